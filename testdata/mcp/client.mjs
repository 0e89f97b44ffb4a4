// A real MCP client: the official TypeScript SDK's Client over Streamable
// HTTP with an OAuth provider for the authorization code grant with PKCE.
// From the first 401 it finds the protected resource's metadata, the
// authorization server, asks it for a token naming the resource (RFC
// 8707), and follows an insufficient_scope challenge by asking again with
// the scope it names (step-up). The "browser" approves at once.
//
// node client.mjs '{"url": "...", "scope": "...", "tool": "..."}'
// prints one JSON line: what happened.
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const args = JSON.parse(process.argv[2]);
const redirectUrl = 'http://127.0.0.1:9/callback';

class Provider {
  constructor(scope) { this.scope = scope; this.pendingCode = undefined; this.events = []; }
  get redirectUrl() { return redirectUrl; }
  get clientMetadata() {
    return { client_name: 'authz e2e', redirect_uris: [redirectUrl], grant_types: ['authorization_code'],
      response_types: ['code'], token_endpoint_auth_method: 'none', scope: this.scope };
  }
  clientInformation() { return { client_id: 'mcp-client' }; }
  tokens() { return this._tokens; }
  saveTokens(t) { this._tokens = t; this.events.push({ token: t.scope }); }
  async redirectToAuthorization(url) {
    this.events.push({ authorize: { scope: url.searchParams.get('scope'), resource: url.searchParams.get('resource') } });
    const res = await fetch(url, { redirect: 'manual' });
    const back = new URL(res.headers.get('location'));
    if (back.searchParams.get('error')) throw new Error(`authorization refused: ${back.searchParams.get('error')}`);
    this.pendingCode = back.searchParams.get('code');
  }
  saveCodeVerifier(v) { this._verifier = v; }
  codeVerifier() { return this._verifier; }
}

const provider = new Provider(args.scope);
const out = { events: provider.events };
let transport;

// run retries fn after completing an authorization the SDK started.
async function run(fn) {
  for (let i = 0; i < 3; i++) {
    try { return await fn(); } catch (e) {
      if (!(e instanceof UnauthorizedError) || !provider.pendingCode) throw e;
      const code = provider.pendingCode;
      provider.pendingCode = undefined;
      await transport.finishAuth(code);
    }
  }
  throw new Error('still unauthorized after three authorizations');
}

try {
  const client = new Client({ name: 'authz-e2e-client', version: '1.0.0' });
  await run(async () => {
    transport = new StreamableHTTPClientTransport(new URL(args.url), { authProvider: provider });
    await client.connect(transport);
  });
  out.tools = (await run(() => client.listTools())).tools.map((t) => t.name).sort();
  const called = await run(() => client.callTool({ name: args.tool, arguments: { city: 'Oslo', name: 'x' } }));
  out.result = called.content[0].text;
} catch (e) {
  out.error = String(e.message ?? e);
}
console.log(JSON.stringify(out));
process.exit(0);
