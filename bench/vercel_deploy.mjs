// Deploys a folder with Vercel's own deployment client, @vercel/client (what the Vercel CLI deploys
// with): createDeployment({token, teamId, apiUrl, path}) to production, followed until the
// `alias-assigned` event. Used by bench/versus_clients.py.
//
//   node bench/vercel_deploy.mjs '{"client": ".../@vercel/client", "token": "...", "teamId": "...",
//     "apiUrl": "http://127.0.0.1:PORT", "dir": "...", "name": "..."}'
//
// Prints one JSON object: deploymentId, and `events`, the seconds since this process began at which
// each event type was first seen (`start`: when this script began, i.e. node's own start-up).
import { createRequire } from 'node:module'

const events = { start: performance.now() / 1000 }
const input = JSON.parse(process.argv[2])
const { createDeployment } = createRequire(import.meta.url)(input.client)
const client = {
  token: input.token,
  teamId: input.teamId,
  apiUrl: input.apiUrl,
  path: input.dir,
  skipAutoDetectionConfirmation: true,
}
const options = { name: input.name, target: 'production', projectSettings: { framework: null } }
for await (const event of createDeployment(client, options)) {
  if (!(event.type in events)) events[event.type] = performance.now() / 1000
  if (event.type === 'error') {
    console.log(JSON.stringify({ events, error: event.payload }))
    process.exit(1)
  }
  if (event.type === 'alias-assigned') {
    console.log(JSON.stringify({ deploymentId: event.payload.id, events }))
    process.exit(0)
  }
}
console.log(JSON.stringify({ events, error: 'the client stopped before alias-assigned' }))
process.exit(2)
