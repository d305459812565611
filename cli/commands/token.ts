import { BunkerError } from '../../core/mod.ts';
import { isTokenScope, TOKEN_SCOPES, type TokenScope } from '../../core/catalog/records.ts';
import { openProductCatalog } from '../context.ts';
import type { Io } from '../io.ts';
import type { CommandSpec } from './spec.ts';

async function withCatalog<T>(io: Io, create: boolean, work: (catalog: NonNullable<Awaited<ReturnType<typeof openProductCatalog>>>) => Promise<T> | T): Promise<T> {
  const catalog = await openProductCatalog(io, { create });
  if (catalog === undefined) throw new BunkerError('NOT_FOUND', 'there is no product database yet (bunker token create makes one)');
  try {
    return await work(catalog);
  } finally {
    catalog.close();
  }
}

export async function runTokenCreate(options: { name: string; scope?: string; json?: boolean }, io: Io): Promise<void> {
  const scope = options.scope ?? 'read';
  if (!isTokenScope(scope)) throw new BunkerError('USAGE', `--scope must be one of ${TOKEN_SCOPES.join(', ')}`);
  const token = await withCatalog(io, true, (catalog) => catalog.createToken(options.name, scope as TokenScope));
  // The one time the token is shown: to stdout only, never to a log.
  if (options.json) io.out(JSON.stringify({ name: options.name, scope, token }) + '\n');
  else {
    io.out(`${token}\n`);
    io.err(`token "${options.name}" (scope ${scope}) created; it is shown this once and stored only as a hash\n`);
  }
}

export const tokenCommand: CommandSpec = {
  command: 'token',
  describe: 'API tokens for bunker serve',
  builder: (y) => y,
  subcommands: [
    {
      command: 'create <name>',
      describe: 'Create a token (printed once): read < backup < admin',
      builder: (y) => y.positional('name', { type: 'string', demandOption: true }).option('scope', { type: 'string', choices: [...TOKEN_SCOPES], default: 'read' }),
      run: async (argv, io) => runTokenCreate(argv as unknown as { name: string; scope?: string; json?: boolean }, io),
    },
    {
      command: 'list',
      describe: 'Tokens by name and scope (never the token)',
      builder: (y) => y,
      run: async (argv, io) => {
        const tokens = await withCatalog(io, false, (c) => c.listTokens()).catch((error) => {
          if (error instanceof BunkerError && error.code === 'NOT_FOUND') return [];
          throw error;
        });
        if (argv.json) io.out(JSON.stringify({ tokens }) + '\n');
        else if (tokens.length === 0) io.out('no tokens\n');
        else for (const t of tokens) io.out(`${t.name}\t${t.scope}\t${t.createdAt}\n`);
      },
    },
    {
      command: 'remove <name>',
      describe: 'Revoke a token',
      builder: (y) => y.positional('name', { type: 'string', demandOption: true }),
      run: async (argv, io) => {
        await withCatalog(io, false, (c) => c.removeToken(String(argv.name)));
        if (argv.json) io.out(JSON.stringify({ removed: argv.name }) + '\n');
        else io.out(`token "${String(argv.name)}" removed\n`);
      },
    },
  ],
};
