/**
 * Imported first by cli/main.ts. Node runs file I/O and WebCrypto jobs on libuv's thread pool,
 * 4 threads by default: a backup's hashing and encryption jobs then queue ahead of its file
 * reads and a restore's writes. The size is read once, when the pool first starts, so it is set
 * here, before any asynchronous work. (Deno has its own pool and ignores it.)
 */
process.env.UV_THREADPOOL_SIZE ??= '16';
