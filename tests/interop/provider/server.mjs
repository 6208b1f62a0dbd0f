// Interop-test OAuth 2.0 / OpenID Connect server built on panva/oidc-provider.
//
//   node server.mjs [PORT] [CLIENTS_JSON] [TLS_JSON]
//
// PORT 0 (default) picks a free port. CLIENTS_JSON is either an array of client
// metadata objects or {"clients": [...]}; defaults to ./default-clients.json.
// TLS_JSON ({"cert", "key", "ca"}: PEM text) adds a second, TLS listener on a free port that asks
// for a client certificate (verified against "ca", but also accepted unverified, for
// self_signed_tls_client_auth): the mTLS endpoints, published as mtls_endpoint_aliases.
// When listening, exactly one JSON line is written to stdout:
//   {"issuer": "http://127.0.0.1:PORT", "port": PORT, "mtls": "https://127.0.0.1:TLSPORT" (with TLS_JSON)}
// Everything else (oidc-provider notices/warnings, errors, REUSE-REVOKED lines) goes to stderr.
// TEST ONLY: plain HTTP, in-memory storage, devInteractions (accept any login), ephemeral keys.

import { X509Certificate, generateKeyPairSync, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
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

const tlsPath = process.argv[4];
const tls = tlsPath ? JSON.parse(readFileSync(tlsPath, 'utf8')) : undefined;

const RESOURCE = 'urn:api';
const RESOURCE_SCOPE = 'api:read api:write';
// Their user grants (device, code) get tokens for the userinfo endpoint (no resource), where
// oidc-provider checks the DPoP proof or the certificate a bound token needs.
const USERINFO_CLIENTS = new Set([
  'device-client', 'device-public', 'dpop-client', 'mtls-client', 'self-signed-client',
  'dpop-public', 'mtls-user', // the bound blocks' user grants (test_bound_blocks.py)
]);

// The client certificate of a request on the TLS listener (none on plain HTTP).
const peerCertificate = (ctx) => {
  const socket = ctx.req.socket;
  if (typeof socket.getPeerCertificate !== 'function') return undefined;
  const peer = socket.getPeerCertificate(false);
  return peer && peer.raw ? new X509Certificate(peer.raw) : undefined;
};

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

const tlsServer = tls
  ? createTlsServer(
    {
      cert: tls.cert, key: tls.key, ca: tls.ca, requestCert: true, rejectUnauthorized: false,
    },
    (req, res) => handler(req, res),
  )
  : undefined;
tlsServer?.on('error', (err) => {
  console.error(`TLS listen error: ${err.message}`);
  process.exit(1);
});

const listening = (srv) => new Promise((resolve) => { srv.listen(0, '127.0.0.1', resolve); });

server.listen(port, '127.0.0.1', async () => {
  const actualPort = server.address().port;
  const issuer = `http://127.0.0.1:${actualPort}`;
  let mtls;
  if (tlsServer) {
    await listening(tlsServer);
    mtls = `https://127.0.0.1:${tlsServer.address().port}`;
  }

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
      'tls_client_auth',
      'self_signed_tls_client_auth',
    ],
    // RFC 8705 5: where a client with a certificate sends its requests.
    discovery: mtls ? {
      mtls_endpoint_aliases: {
        token_endpoint: `${mtls}/token`,
        device_authorization_endpoint: `${mtls}/device/auth`,
        userinfo_endpoint: `${mtls}/me`,
        introspection_endpoint: `${mtls}/token/introspection`,
      },
    } : {},
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
      // RFC 8628, with oidc-provider's own user code pages (the test plays the person in them).
      deviceFlow: { enabled: true },
      // RFC 9449, a nonce demanded on every DPoP request (token endpoint and userinfo).
      dPoP: { enabled: true, nonceSecret: randomBytes(32), requireNonce: () => true },
      // RFC 8705 on the TLS listener.
      mTLS: {
        enabled: true,
        certificateBoundAccessTokens: true,
        tlsClientAuth: true,
        selfSignedTlsClientAuth: true,
        getCertificate: peerCertificate,
        certificateAuthorized: (ctx) => ctx.req.socket.authorized === true,
        certificateSubjectMatches(ctx, property, expected) {
          const cert = peerCertificate(ctx);
          return property === 'tls_client_auth_subject_dn' && cert !== undefined && cert.subject === expected;
        },
      },
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
        defaultResource: (ctx, client) => (
          USERINFO_CLIENTS.has(client.clientId) && ctx.oidc.params?.grant_type !== 'client_credentials'
            ? undefined : RESOURCE),
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
      DeviceCode: (ctx, token, client) => (client.clientId === 'device-short' ? 3 : 600),
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
    'device_authorization.error',
    'code_verification.error',
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

  // RFC 8628 3.2 lets the server choose the polling interval (5 s when it names none): 1 s here,
  // so the tests wait less.
  provider.use(async (ctx, next) => {
    await next();
    if (ctx.path === '/device/auth' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      ctx.body.interval = 1;
    }
  });

  handler = provider.callback();
  process.stdout.write(`${JSON.stringify({ issuer, port: actualPort, mtls })}\n`);
});

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    server.close();
    tlsServer?.close();
    process.exit(0);
  });
}
