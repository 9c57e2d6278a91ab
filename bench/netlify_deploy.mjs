// Deploys a folder with Netlify's own API client, @netlify/api, the way netlify-cli's `deploy` does
// (src/utils/deploy/: hash every file with SHA-1, 100 at a time; createSiteDeploy with the
// {path: sha1} list and async: true; poll getSiteDeploy until `prepared`; upload every path of each
// required digest, DEFAULT_CONCURRENT_UPLOAD = 5 at a time; poll until `ready`; polls check at once
// and then every DEPLOY_POLL = 1 s, as p-wait-for does). Used by bench/versus_clients.py.
//
//   node bench/netlify_deploy.mjs '{"client": ".../@netlify/api", "token": "...", "scheme": "http",
//     "host": "127.0.0.1:PORT", "pathPrefix": "/api/v1", "dir": "...", "name": "...",
//     "siteId": null, "concurrency": 5, "pollMs": 1000}'
//
// Creates the site first when no siteId is given. Prints one JSON object: siteId, deployId, required
// (digests the platform asked for), uploaded (files sent) and timings (seconds per step).
import { createHash } from 'node:crypto'
import { createReadStream } from 'node:fs'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'

const started = performance.now() // milliseconds since this process began: node's own start-up
const input = JSON.parse(process.argv[2])
const { NetlifyAPI } = await import(input.client + '/lib/index.js')
const api = new NetlifyAPI(input.token, { scheme: input.scheme, host: input.host, pathPrefix: input.pathPrefix })
const timings = { startup: started / 1000 }
let last = performance.now()
const step = (name) => {
  const now = performance.now()
  timings[name] = (timings[name] ?? 0) + (now - last) / 1000
  last = now
}

// at most `limit` of fn(item) at once (p-map's concurrency)
const pool = async (items, limit, fn) => {
  let next = 0
  const worker = async () => {
    while (next < items.length) await fn(items[next++])
  }
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker))
}

// netlify-cli's default filter: no dotfiles (bar .well-known), no node_modules
const walk = async (dir, prefix = '') => {
  const out = []
  for (const entry of await readdir(join(dir, prefix), { withFileTypes: true })) {
    if ((entry.name.startsWith('.') && entry.name !== '.well-known') || entry.name === 'node_modules') continue
    const rel = prefix ? `${prefix}/${entry.name}` : entry.name
    if (entry.isDirectory()) out.push(...(await walk(dir, rel)))
    else if (entry.isFile()) out.push(rel)
  }
  return out
}

const sha1 = (file) =>
  new Promise((resolve, reject) => {
    const hash = createHash('sha1')
    createReadStream(file)
      .on('data', (chunk) => hash.update(chunk))
      .on('end', () => resolve(hash.digest('hex')))
      .on('error', reject)
  })

const waitFor = async (siteId, deployId, wanted) => {
  for (;;) {
    const deploy = await api.getSiteDeploy({ siteId, deployId })
    if (deploy.state === 'error') throw new Error(`deploy ${deployId}: ${deploy.error_message}`)
    if (wanted.includes(deploy.state)) return deploy
    await sleep(input.pollMs)
  }
}

const paths = await walk(input.dir)
const files = {}
const shaMap = {}
await pool(paths, 100, async (path) => {
  const digest = await sha1(join(input.dir, path))
  files[path] = digest
  ;(shaMap[digest] ??= []).push(path)
})
step('hash')

let siteId = input.siteId
if (!siteId) siteId = (await api.createSite({ body: { name: input.name } })).id
let deploy = await api.createSiteDeploy({ siteId, title: 'bench', body: { files, async: true, draft: false } })
step('create')

deploy = await waitFor(siteId, deploy.id, ['prepared', 'uploading', 'uploaded', 'ready'])
step('prepare')

const required = deploy.required ?? []
const uploads = required.flatMap((digest) => shaMap[digest])
await pool(uploads, input.concurrency, async (path) => {
  const body = await readFile(join(input.dir, path))
  await api.uploadDeployFile({ deployId: deploy.id, path: encodeURI(path), body, size: body.length })
})
step('upload')

deploy = await waitFor(siteId, deploy.id, ['ready'])
step('ready')

console.log(
  JSON.stringify({ siteId, deployId: deploy.id, required: required.length, uploaded: uploads.length, timings }),
)
