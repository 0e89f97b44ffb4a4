// An MCP server that knows nothing of OAuth: the official TypeScript SDK's
// McpServer over Streamable HTTP (stateless), two tools. authz and the
// proxy in front of it do the authorization. Prints "listening PORT".
import http from 'node:http';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { StreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/streamableHttp.js';
import { z } from 'zod';

function newServer() {
  const server = new McpServer({ name: 'authz-e2e', version: '1.0.0' });
  server.registerTool('get_weather', { description: 'the weather', inputSchema: { city: z.string() } },
    async ({ city }) => ({ content: [{ type: 'text', text: `sunny in ${city}` }] }));
  server.registerTool('delete_repo', { description: 'deletes a repository', inputSchema: { name: z.string() } },
    async ({ name }) => ({ content: [{ type: 'text', text: `deleted ${name}` }] }));
  return server;
}

const httpServer = http.createServer(async (req, res) => {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  const raw = Buffer.concat(chunks).toString();
  const body = raw ? JSON.parse(raw) : undefined;
  // Stateless: a server and transport per request, as the SDK's examples do.
  const server = newServer();
  const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
  res.on('close', () => { transport.close(); server.close(); });
  await server.connect(transport);
  await transport.handleRequest(req, res, body);
});
httpServer.listen(0, '127.0.0.1', () => console.log(`listening ${httpServer.address().port}`));
