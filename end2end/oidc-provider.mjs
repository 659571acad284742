// A real, certified OpenID provider (panva's node-oidc-provider) on loopback for the single
// sign-on test, started by global-setup.ts: `node oidc-provider.mjs PORT REDIRECT_URI`.
// Its development login accepts any password; each account's `groups` claim decides its role in
// the console (PALISADE_OIDC_ROLES).
import Provider from 'oidc-provider';

const [port, redirect] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;
const groups = {
  alice: ['palisade-admins'],
  oscar: ['palisade-operators'],
  fiona: ['finance'],
};

const provider = new Provider(issuer, {
  clients: [{
    client_id: 'palisade',
    client_secret: 'e2e-client-secret',
    redirect_uris: [redirect],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    token_endpoint_auth_method: 'client_secret_basic',
  }],
  pkce: { required: () => true },
  scopes: ['openid', 'profile', 'groups'],
  claims: { openid: ['sub'], profile: ['preferred_username'], groups: ['groups'] },
  // The claims of the granted scopes go into the ID token itself.
  conformIdTokenClaims: false,
  findAccount: async (_ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, preferred_username: sub, groups: groups[sub] ?? [] }),
  }),
  features: { devInteractions: { enabled: true } },
  cookies: { keys: ['palisade-e2e-cookie-key'] },
});
provider.listen(Number(port), '127.0.0.1');
