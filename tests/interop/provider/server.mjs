// Interop-test OAuth 2.0 / OpenID Connect server built on panva/oidc-provider.
//
//   node server.mjs [PORT] [CLIENTS_JSON]
//
// PORT 0 (default) picks a free port. CLIENTS_JSON is either an array of client
// metadata objects or {"clients": [...]}; defaults to ./default-clients.json.
// When listening, exactly one JSON line is written to stdout:
//   {"issuer": "http://127.0.0.1:PORT", "port": PORT}
// Everything else (oidc-provider notices/warnings, errors, REUSE-REVOKED lines) goes to stderr.
// TEST ONLY: plain HTTP, in-memory storage, devInteractions (accept any login), ephemeral keys.

import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

// oidc-provider prints some notices with console.info (stdout); keep stdout for the ready line only.
console.info = console.error; // eslint-disable-line no-console
console.log = console.error; // eslint-disable-line no-console

const { default: Provider, errors } = await import('oidc-provider');

const here = dirname(fileURLToPath(import.meta.url));
const portArg = process.argv[2] ?? '0';
const port = Number.parseInt(portArg, 10);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  console.error(`invalid port: ${portArg}`);
  process.exit(2);
}
const clientsPath = process.argv[3] || join(here, 'default-clients.json');
const clientsDoc = JSON.parse(readFileSync(clientsPath, 'utf8'));
const clients = Array.isArray(clientsDoc) ? clientsDoc : clientsDoc.clients;
if (!Array.isArray(clients)) {
  console.error(`${clientsPath}: expected an array of clients or {"clients": [...]}`);
  process.exit(2);
}

const RESOURCE = 'urn:api';
const RESOURCE_SCOPE = 'api:read api:write';

// Ephemeral ID Token signing key (avoids oidc-provider's dev-keys warning; regenerated on each start).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: 'server-sig-1', use: 'sig', alg: 'RS256' };

let handler = (req, res) => {
  res.statusCode = 503;
  res.end();
};
const server = createServer((req, res) => handler(req, res));

server.on('error', (err) => {
  console.error(`listen error: ${err.message}`);
  process.exit(1);
});

server.listen(port, '127.0.0.1', () => {
  const actualPort = server.address().port;
  const issuer = `http://127.0.0.1:${actualPort}`;

  const provider = new Provider(issuer, {
    clients,
    jwks: { keys: [signingJwk] },
    scopes: ['openid', 'offline_access', 'api:read', 'api:write'],
    responseTypes: ['code'],
    clientAuthMethods: [
      'client_secret_basic',
      'client_secret_post',
      'client_secret_jwt',
      'private_key_jwt',
      'none',
    ],
    pkce: {
      methods: ['S256'],
      // `required` left at its default: PKCE is mandatory for public (auth method "none") clients.
    },
    cookies: {
      keys: [randomBytes(32).toString('base64url')],
      long: { signed: true, secure: false, sameSite: 'lax' },
      short: { signed: true, secure: false, sameSite: 'lax' },
    },
    features: {
      devInteractions: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // same as the default policy, declared explicitly to silence the "should change" notice
        allowedPolicy(ctx, client, token) {
          return !(client.clientAuthMethod === 'none' && token.clientId !== ctx.oidc.client.clientId);
        },
      },
      revocation: { enabled: true },
      resourceIndicators: {
        enabled: true,
        // every request (client_credentials, authorization, code & refresh exchange) targets urn:api
        // unless the client sends its own `resource`
        defaultResource: () => RESOURCE,
        useGrantedResource: () => true,
        getResourceServerInfo(ctx, resourceIndicator) {
          if (resourceIndicator !== RESOURCE) throw new errors.InvalidTarget();
          return {
            scope: RESOURCE_SCOPE,
            audience: RESOURCE,
            accessTokenTTL: 60,
            accessTokenFormat: 'opaque',
          };
        },
      },
    },
    // refresh tokens are issued for the code grant when the client may use the refresh_token grant
    // and offline_access was granted (this is oidc-provider's default, spelled out here)
    issueRefreshToken(ctx, client, code) {
      return client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access');
    },
    rotateRefreshToken: true,
    ttl: {
      AccessToken: 60,
      ClientCredentials: 60,
      AuthorizationCode: 60,
      IdToken: 3600,
      RefreshToken: 24 * 60 * 60,
      Grant: 24 * 60 * 60,
      Interaction: 600,
      Session: 24 * 60 * 60,
    },
  });

  const logError = (event) => (ctx, err) => {
    const desc = err?.error_description ? ` (${err.error_description})` : '';
    const detail = err?.error_detail ? ` [${err.error_detail}]` : '';
    const client = ctx?.oidc?.client?.clientId ? ` client=${ctx.oidc.client.clientId}` : '';
    console.error(`${event}: ${err?.error ?? err?.name ?? 'error'}${desc}${detail}${client}`);
    if (event === 'server_error' && err?.stack) console.error(err.stack);
  };
  for (const event of [
    'server_error',
    'authorization.error',
    'grant.error',
    'introspection.error',
    'revocation.error',
    'userinfo.error',
    'discovery.error',
    'jwks.error',
    'end_session.error',
  ]) {
    provider.on(event, logError(event));
  }

  // lib/actions/grants/refresh_token.js: presenting a consumed refresh token destroys it, revokes the
  // whole grant (all its access/refresh tokens, emitting 'grant.revoked' first) and throws
  // InvalidGrant('refresh token already used').
  provider.on('grant.error', (ctx, err) => {
    // the public error_description is the generic 'grant request is invalid'; the reason is in error_detail
    if (err instanceof errors.InvalidGrant && err.error_detail === 'refresh token already used') {
      const grantId = ctx?.oidc?.entities?.RefreshToken?.grantId ?? ctx?.oidc?.entities?.Grant?.jti;
      console.error(`REUSE-REVOKED ${grantId}`);
    }
  });
  provider.on('grant.revoked', (ctx, grantId) => {
    console.error(`grant.revoked: ${grantId}`);
  });

  handler = provider.callback();
  process.stdout.write(`${JSON.stringify({ issuer, port: actualPort })}\n`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close();
    process.exit(0);
  });
}
