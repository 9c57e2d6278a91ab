// sitedeploy's browser client: a dependency-free ES module, no build step. Types: sitedeploy.d.ts.
//
// It does what the app builder's deploy hooks do, for every platform and both modes, the way the
// service is meant to be used from a browser: files are hashed with WebCrypto, only the blobs the
// service has not staged are PUT to their presigned S3 URLs (in parallel, with retries and byte
// progress), the deployment is created from a manifest of path -> sha256, and its status is
// followed with backoff until it is ready or failed. Small sites may go inline in one request.
// Every failure is a SitedeployError carrying the API's machine `code`.

export const PLATFORMS = Object.freeze(["cloudflare", "amplify", "netlify", "vercel"]);
export const TERMINAL_STATUSES = Object.freeze(["ready", "error"]);

// Inline deploys are one JSON request: the API takes at most 6 MB of request (base64 grows 4/3).
const INLINE_MAX_BYTES = 512 * 1024;
const INLINE_MAX_FILES = 100;
const RETRIED_STATUSES = new Set([408, 429, 500, 502, 503, 504]);
const IGNORED_NAMES = new Set([".DS_Store", "Thumbs.db", ".assetsignore"]);
const IGNORED_FOLDERS = new Set([".git", "node_modules", ".svn", ".hg"]);
const FIRST_POLL_MS = 100;
const MAX_POLL_MS = 2000;
// For the first seconds polls stay this quick at most: most sites are ready within them.
const QUICK_POLL_MS = 250;
const QUICK_PHASE_MS = 10_000;
// Hashes a client remembers of picked files (path, size, modification time), at most.
const REMEMBERED_FILE_HASHES = 100_000;

/** An API or network failure. `status` is 0 when nothing answered; `code` is the API's. */
export class SitedeployError extends Error {
  constructor(message, { status = 0, code = "network_error", details = {}, cause } = {}) {
    super(message, cause ? { cause } : undefined);
    this.name = "SitedeployError";
    this.status = status;
    this.code = code;
    this.details = details;
  }
}

function abortError(signal) {
  const reason = signal && signal.reason;
  if (reason instanceof Error) return reason;
  return new DOMException("the deploy was cancelled", "AbortError");
}

function throwIfAborted(signal) {
  if (signal && signal.aborted) throw abortError(signal);
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    throwIfAborted(signal);
    const timer = setTimeout(() => {
      if (signal) signal.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    function onAbort() {
      clearTimeout(timer);
      reject(abortError(signal));
    }
    if (signal) signal.addEventListener("abort", onAbort, { once: true });
  });
}

/** Exponential backoff with full jitter, honouring Retry-After (seconds) when the server sends it. */
function backoffMs(attempt, retryAfter) {
  const seconds = Number(retryAfter);
  if (retryAfter != null && Number.isFinite(seconds) && seconds >= 0) return Math.min(seconds, 30) * 1000;
  return Math.random() * Math.min(8000, 250 * 2 ** attempt);
}

function toHex(buffer) {
  return Array.from(new Uint8Array(buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}

function toBase64(buffer) {
  const bytes = new Uint8Array(buffer);
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(text);
}

function toBlob(data) {
  if (data instanceof Blob) return data;
  if (typeof data === "string") return new Blob([new TextEncoder().encode(data)]);
  if (data instanceof ArrayBuffer || ArrayBuffer.isView(data)) return new Blob([data]);
  throw new TypeError("a file's data must be a Blob, an ArrayBuffer, a typed array or a string");
}

const HASH_BATCH_FILES = 32;
const HASH_BATCH_BYTES = 4 * 1024 * 1024;

// Staging starts before hashing ends: hashed files are asked about in chunks, the first one small
// so the first PUTs start early, and each chunk's missing blobs are uploaded while the rest is still
// being hashed and asked about. A chunk stays within the API's files per /uploads call (20,000).
const PLAN_FIRST_BYTES = 16 * 1024 * 1024;
const PLAN_BYTES = 64 * 1024 * 1024;
const PLAN_FILES = 1000;
const PLAN_CONCURRENCY = 3;
// Chunks cut by bytes at most this many; then by files alone (a deploy takes 100 receipts).
const PLAN_BYTE_CHUNKS = 8;
// Bytes hashing read that are kept to be sent from memory: reading a picked file again for its PUT
// is a round trip to the browser process per file.
const HOLD_BYTES = 64 * 1024 * 1024;

/** Entries in runs to be read as one Blob: up to 32 files or 4 MiB (a larger file goes alone). */
function hashBatches(entries) {
  const batches = [];
  let batch = [];
  let size = 0;
  for (const entry of entries) {
    if (batch.length && (batch.length >= HASH_BATCH_FILES || size + entry.blob.size > HASH_BATCH_BYTES)) {
      batches.push(batch);
      batch = [];
      size = 0;
    }
    batch.push(entry);
    size += entry.blob.size;
  }
  if (batch.length) batches.push(batch);
  return batches;
}

/**
 * Jobs run `size` at a time, and more may be added while they run: the uploads of one /uploads
 * answer start while the next chunk is still being asked about. `drained` settles once `close()`
 * was called and every job has ended, or rejects with the first failure; after a failure (or
 * `stop()`) no job starts, and jobs added are dropped.
 */
class WorkQueue {
  constructor(size, run) {
    this.size = Math.max(1, size);
    this.run = run;
    this.jobs = [];
    this.running = 0;
    this.closed = false;
    this.stopped = false;
    this.failure = null;
    this.drained = new Promise((resolve, reject) => {
      this._resolve = resolve;
      this._reject = reject;
    });
    this.drained.catch(() => {}); // awaited by the caller; not an unhandled rejection meanwhile
  }

  add(jobs) {
    if (this.stopped) return;
    this.jobs.push(...jobs);
    this._pump();
  }

  close() {
    this.closed = true;
    this._pump();
  }

  stop() {
    this.stopped = true;
    this.jobs = [];
  }

  _pump() {
    while (!this.stopped && this.running < this.size && this.jobs.length) {
      const job = this.jobs.shift();
      this.running += 1;
      Promise.resolve()
        .then(() => this.run(job))
        .then(
          () => {
            this.running -= 1;
            this._pump();
          },
          (error) => {
            this.running -= 1;
            if (this.failure) return;
            this.failure = error;
            this.stop();
            this._reject(error);
          },
        );
    }
    if (!this.stopped && this.closed && !this.running && !this.jobs.length) this._resolve();
  }
}

/** The SHA-256 of a blob's bytes, lowercase hex. */
export async function sha256Hex(data) {
  const blob = toBlob(data);
  return toHex(await crypto.subtle.digest("SHA-256", await blob.arrayBuffer()));
}

// A redeploy hashes only what changed, as the CLI's cache does, whichever client the page makes: a
// Blob's bytes never change, so its hash is kept by the Blob itself; a File picked again is a new
// object, so it is known by its path, size and modification time (an edit on disk changes the time).
// Reproducible builds and archives stamp every file with one fixed time (Nix: a second after the
// epoch; ZIP: 1980-01-01): such a time says nothing about the bytes, so those files are always hashed.
const blobHashes = new WeakMap();
const fileHashes = new Map();
const STAMPED_BEFORE_MS = Date.UTC(1980, 0, 2);

function fileKey(entry) {
  const { blob } = entry;
  if (typeof File === "undefined" || !(blob instanceof File)) return null;
  if (!blob.lastModified || blob.lastModified < STAMPED_BEFORE_MS) return null;
  return `${entry.path}\u0000${blob.size}\u0000${blob.lastModified}`;
}

function knownHash(entry) {
  const key = fileKey(entry);
  return blobHashes.get(entry.blob) || (key && fileHashes.get(key)) || null;
}

function rememberHash(entry) {
  blobHashes.set(entry.blob, entry.sha256);
  const key = fileKey(entry);
  if (!key) return;
  if (fileHashes.size >= REMEMBERED_FILE_HASHES) fileHashes.clear();
  fileHashes.set(key, entry.sha256);
}

function ignored(path) {
  const parts = path.split("/");
  return IGNORED_NAMES.has(parts[parts.length - 1]) || parts.slice(0, -1).some((p) => IGNORED_FOLDERS.has(p));
}

/**
 * The files of a picked folder (an `<input webkitdirectory>`'s FileList, or File[] from a drop):
 * paths relative to the folder itself, without what a site never serves (.git/, node_modules/,
 * .DS_Store).
 */
export function filesFromFileList(list) {
  const files = Array.from(list);
  const paths = files.map((f) => (f.sitedeployPath || f.webkitRelativePath || f.name).replace(/^\/+/, ""));
  const tops = new Set(paths.map((p) => (p.includes("/") ? p.split("/")[0] : "")));
  const strip = tops.size === 1 && !tops.has("") ? [...tops][0].length + 1 : 0;
  return files
    .map((file, i) => ({ path: paths[i].slice(strip), data: file }))
    .filter((f) => f.path && !ignored(f.path));
}

/** Files dropped on a page: folders are walked (DataTransferItem.webkitGetAsEntry). */
export async function filesFromDataTransfer(dataTransfer) {
  const entries = Array.from(dataTransfer.items || [])
    .map((item) => (item.webkitGetAsEntry ? item.webkitGetAsEntry() : null))
    .filter(Boolean);
  if (!entries.length) return filesFromFileList(dataTransfer.files || []);
  const found = [];
  async function walk(entry, prefix) {
    if (entry.isFile) {
      const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
      file.sitedeployPath = prefix + entry.name;
      found.push(file);
      return;
    }
    const reader = entry.createReader();
    for (;;) {
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
      if (!batch.length) break;
      for (const child of batch) await walk(child, `${prefix}${entry.name}/`);
    }
  }
  for (const entry of entries) await walk(entry, "");
  return filesFromFileList(found);
}

function normaliseFiles(files) {
  let list;
  const isFileList = typeof FileList !== "undefined" && files instanceof FileList;
  if (isFileList || (Array.isArray(files) && files.length && files.every((f) => f instanceof Blob))) {
    list = filesFromFileList(files);
  } else if (Array.isArray(files)) {
    list = files.map((f) => ({ path: f.path, data: f.data }));
  } else if (files && typeof files === "object") {
    list = Object.entries(files).map(([path, data]) => ({ path, data }));
  } else throw new TypeError("files must be a FileList, an array of {path, data}, or an object of path -> data");
  const seen = new Set();
  return list.map(({ path, data }) => {
    const clean = String(path).replace(/^\/+/, "");
    if (!clean) throw new SitedeployError("a file has an empty path", { code: "validation_error" });
    if (seen.has(clean)) throw new SitedeployError(`${clean} is listed twice`, { code: "validation_error" });
    seen.add(clean);
    return { path: clean, blob: toBlob(data) };
  });
}

/** Fields of a deploy body for a mode: user-token credentials only in user-token mode. */
function credentialFields(authMode, credentials) {
  if (authMode !== "user-token" || !credentials) return {};
  const out = {};
  for (const [key, value] of Object.entries(credentials)) if (value != null && value !== "") out[key] = value;
  return out;
}

export class SitedeployClient {
  /** @param {import('./sitedeploy').ClientOptions} options */
  constructor({ apiUrl, token, fetch: fetchImpl, retries = 4, uploadConcurrency = 6, hashConcurrency = 4 } = {}) {
    if (!apiUrl) throw new TypeError("apiUrl is required");
    this.apiUrl = String(apiUrl).replace(/\/+$/, "");
    this.token = token;
    this.retries = retries;
    this.uploadConcurrency = uploadConcurrency;
    this.hashConcurrency = hashConcurrency;
    this._fetch = fetchImpl || globalThis.fetch.bind(globalThis);
  }

  async _authorization() {
    const token = typeof this.token === "function" ? await this.token() : this.token;
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  /**
   * One API call: JSON in and out. Calls that are safe to repeat (reads, /uploads, and a deploy
   * that carries an Idempotency-Key) are retried on 429/5xx and network failures with backoff.
   */
  async request(method, path, { body, query, headers, signal, retry } = {}) {
    const url = new URL(this.apiUrl + path);
    for (const [key, value] of Object.entries(query || {})) if (value != null) url.searchParams.set(key, value);
    const safe = retry ?? method === "GET";
    for (let attempt = 0; ; attempt += 1) {
      throwIfAborted(signal);
      let response;
      try {
        const sent = { Accept: "application/json", ...(await this._authorization()), ...(headers || {}) };
        if (body !== undefined) sent["Content-Type"] = "application/json";
        response = await this._fetch(url, {
          method,
          headers: sent,
          body: body === undefined ? undefined : JSON.stringify(body),
          signal,
        });
      } catch (cause) {
        if (signal && signal.aborted) throw abortError(signal);
        if (safe && attempt < this.retries) {
          await sleep(backoffMs(attempt), signal);
          continue;
        }
        throw new SitedeployError(`cannot reach the API at ${this.apiUrl} (${cause.message || cause})`, { cause });
      }
      if (safe && RETRIED_STATUSES.has(response.status) && attempt < this.retries) {
        await sleep(backoffMs(attempt, response.headers.get("Retry-After")), signal);
        continue;
      }
      const text = await response.text();
      let payload = null;
      try {
        payload = text ? JSON.parse(text) : null;
      } catch {
        payload = null;
      }
      if (response.ok) return payload;
      throw errorFromAnswer(response.status, payload, response.statusText);
    }
  }

  // -- what the Deploy button and the settings tab need -------------------------------------------

  /** Per platform: `quickDeploy` (the service can host it) and `connected` (the user's own account). */
  platforms(options) {
    return this.request("GET", "/platforms", options);
  }

  connections(options) {
    return this.request("GET", "/platform-tokens", options);
  }

  /** Verify the credentials with the platform, then store them (sealed; never returned). */
  connect(platform, credentials, options) {
    return this.request("PUT", `/platform-tokens/${encodeURIComponent(platform)}`, { ...options, body: credentials });
  }

  /** Check credentials with the platform without storing them. */
  verifyConnection(platform, credentials, options) {
    return this.request("POST", `/platform-tokens/${encodeURIComponent(platform)}/verify`, {
      ...options,
      body: credentials,
    });
  }

  async disconnect(platform, options) {
    await this.request("DELETE", `/platform-tokens/${encodeURIComponent(platform)}`, options);
  }

  platformStats(platform, options) {
    return this.request("GET", `/platforms/${encodeURIComponent(platform)}/stats`, options);
  }

  sites(options) {
    return this.request("GET", "/sites", options);
  }

  /** Tear a site down now (the Worker, the Amplify branch, the Netlify site or the Vercel project), then forget it. */
  async deleteSite(siteId, options) {
    await this.request("DELETE", `/sites/${encodeURIComponent(siteId)}`, options);
  }

  /** A site's custom domains: each one's `status`, `reason` and the DNS `records` to create. */
  domains(siteId, options) {
    return this.request("GET", `/sites/${encodeURIComponent(siteId)}/domains`, options);
  }

  /** Attach a hostname to a site: answers its records (type, name, value, purpose) and `pending_verification`. */
  addDomain(siteId, hostname, options) {
    return this.request("POST", `/sites/${encodeURIComponent(siteId)}/domains`, { ...options, body: { hostname } });
  }

  /** Detach a hostname: it no longer routes to the site. */
  async removeDomain(siteId, hostname, options) {
    await this.request(
      "DELETE",
      `/sites/${encodeURIComponent(siteId)}/domains/${encodeURIComponent(hostname)}`,
      options,
    );
  }

  /** A site's deployments (its versions), newest first: `live` marks production's, `rollbackAvailable` those it keeps. */
  versions(siteId, { limit, cursor, signal } = {}) {
    return this.request("GET", `/sites/${encodeURIComponent(siteId)}/deployments`, { query: { limit, cursor }, signal });
  }

  /** Make an earlier version live again (default: the one live before the current); nothing is uploaded. */
  rollback(siteId, { deploymentId, credentials, ...options } = {}) {
    const body = { ...(deploymentId ? { deploymentId } : {}), ...(credentials ? { credentials } : {}) };
    return this._versionAction(`/sites/${encodeURIComponent(siteId)}/rollback`, body, options);
  }

  /** Make a ready preview production's version; nothing is uploaded. */
  promote(deploymentId, { credentials, ...options } = {}) {
    return this._versionAction(
      `/deployments/${encodeURIComponent(deploymentId)}/promote`,
      credentials ? { credentials } : {},
      options,
    );
  }

  /** Move a Quick Deploy site into the user's own connected account (`release`: delete it once the copy is live). */
  claim(siteId, { projectName, release = false, credentials, ...options } = {}) {
    const body = { release, ...(projectName ? { projectName } : {}), ...(credentials ? { credentials } : {}) };
    return this._versionAction(`/sites/${encodeURIComponent(siteId)}/claim`, body, options);
  }

  async _versionAction(path, body, { wait = true, signal, onStatus = () => {} } = {}) {
    const key = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const accepted = await this.request("POST", path, { body, signal, retry: true, headers: { "Idempotency-Key": key } });
    if (!wait) return accepted;
    return this.waitForDeployment(accepted.deploymentId, { signal, onStatus });
  }

  deployments({ chatId, limit, cursor, signal } = {}) {
    return this.request("GET", "/deployments", { query: { chatId, limit, cursor }, signal });
  }

  deployment(deploymentId, options) {
    return this.request("GET", `/deployments/${encodeURIComponent(deploymentId)}`, options);
  }

  // -- deploying ----------------------------------------------------------------------------------

  /**
   * Publish files to a platform and, unless `wait` is false, follow the deployment to its end.
   * Cancelling (`signal`) stops hashing, uploading and following; a deployment the API accepted
   * goes on without the page.
   */
  async deploy(platform, files, options = {}) {
    const {
      projectName,
      chatId,
      authMode = "platform-managed",
      credentials,
      spa,
      htmlHandling,
      target,
      signal,
      onProgress = () => {},
      wait = true,
      inline = "auto",
    } = options;
    const started = Date.now();
    const entries = normaliseFiles(files);
    if (!entries.length) throw new SitedeployError("there are no files to deploy", { code: "validation_error" });
    const totalBytes = entries.reduce((sum, f) => sum + f.blob.size, 0);
    const report = { files: entries.length, totalBytes, uploadedFiles: 0, uploadedBytes: 0, alreadyStaged: 0 };
    const emit = (phase, extra = {}) => onProgress({ phase, ...report, ...extra });

    const fields = {
      ...(projectName ? { projectName } : {}),
      ...(chatId ? { chatId } : {}),
      authMode,
      ...(spa != null ? { spa } : {}),
      ...(htmlHandling ? { htmlHandling } : {}),
      ...(target && target !== "production" ? { target } : {}),
      ...credentialFields(authMode, credentials),
    };
    const goInline =
      inline === true || (inline === "auto" && totalBytes <= INLINE_MAX_BYTES && entries.length <= INLINE_MAX_FILES);

    let accepted;
    if (goInline) {
      emit("uploading", { bytesDone: 0, bytesTotal: totalBytes });
      const inlineFiles = {};
      for (const entry of entries) {
        throwIfAborted(signal);
        inlineFiles[`/${entry.path}`] = { data: toBase64(await entry.blob.arrayBuffer()), encoding: "base64" };
      }
      report.uploadedFiles = entries.length;
      report.uploadedBytes = totalBytes;
      accepted = await this._createDeployment(platform, { files: inlineFiles, ...fields }, signal);
    } else {
      const receipts = await this._stage(entries, report, signal, emit);
      const manifest = Object.fromEntries(entries.map((e) => [e.path, e.sha256]));
      try {
        // The receipts tell the server what /uploads found staged: it need not look those up again.
        const uploadReceipts = receipts.length ? receipts : undefined;
        accepted = await this._createDeployment(platform, { manifest, uploadReceipts, ...fields }, signal);
      } catch (error) {
        // A pack never arrived, or a receipt went stale (a long upload): stage what is missing
        // once more and send every receipt. The first ones stay needed: the members of packs that
        // did arrive are known to the server only from them until a publish has verified them.
        if (!(error instanceof SitedeployError) || error.code !== "blobs_missing") throw error;
        const missing = new Set(error.details.missing || []);
        const more = await this._stage(
          entries.filter((e) => missing.has(e.sha256)),
          report,
          signal,
          emit,
          { again: true },
        );
        const every = [...receipts, ...more];
        const uploadReceipts = every.length ? every : undefined;
        accepted = await this._createDeployment(platform, { manifest, uploadReceipts, ...fields }, signal);
      }
    }
    emit("deploying", { deploymentId: accepted.deploymentId, status: accepted.status, progress: 0 });
    let deployment = accepted;
    if (wait) {
      deployment = await this.waitForDeployment(accepted.deploymentId, {
        signal,
        onStatus: (state) =>
          emit("deploying", { deploymentId: state.deploymentId, status: state.status, progress: state.progress }),
      });
    }
    const result = {
      ...report,
      deploymentId: accepted.deploymentId,
      siteId: accepted.siteId,
      status: deployment.status,
      url: deployment.url || accepted.url || null,
      localUrl: deployment.localUrl || null,
      target: deployment.target || accepted.target || "production",
      previewUrl: deployment.previewUrl || null,
      localPreviewUrl: deployment.localPreviewUrl || null,
      error: deployment.error || null,
      deployment,
      seconds: (Date.now() - started) / 1000,
    };
    emit("done", { deploymentId: result.deploymentId, status: result.status, progress: deployment.progress });
    return result;
  }

  /**
   * Poll a deployment until it is ready or failed: quick at first (0.1 s, no slower than 0.25 s for
   * the first 10 s) and whenever the status moves, slowing to every 2 s while it does not (a small
   * site is ready well under a second after it is accepted; a fixed slow poll would sleep through
   * that moment). A poll is one read.
   */
  async waitForDeployment(deploymentId, { signal, onStatus = () => {}, timeoutMs = 30 * 60 * 1000 } = {}) {
    const started = Date.now();
    const deadline = started + timeoutMs;
    let delay = FIRST_POLL_MS;
    let last = null;
    for (;;) {
      const state = await this.deployment(deploymentId, { signal });
      if (!last || last.status !== state.status || last.progress !== state.progress) {
        onStatus(state);
        delay = FIRST_POLL_MS;
      }
      last = state;
      if (TERMINAL_STATUSES.includes(state.status)) return state;
      if (Date.now() > deadline) {
        throw new SitedeployError(`deployment ${deploymentId} is still ${state.status} after ${timeoutMs / 1000}s`, {
          code: "timeout",
        });
      }
      await sleep(delay, signal);
      const slowest = Date.now() - started < QUICK_PHASE_MS ? QUICK_POLL_MS : MAX_POLL_MS;
      delay = Math.min(slowest, delay * 1.5);
    }
  }

  async _createDeployment(platform, body, signal) {
    // One key per deploy request: a retry after a lost answer gets the same deployment, not two.
    const key = crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
    return this.request("POST", `/deployments/${encodeURIComponent(platform)}`, {
      body,
      signal,
      retry: true,
      headers: { "Idempotency-Key": key },
    });
  }

  /** Hash every entry (`entry.sha256`), reporting each file to `onHashed(done, bytes)` and each
   * run of hashed entries to `onBatch(entries, buffer)`: the known ones first (no buffer), then
   * batch by batch with the bytes read for it (the entries' bytes back to back). */
  async _hash(entries, signal, onHashed, onBatch = () => {}) {
    let done = 0;
    let bytes = 0;
    const counted = (entry) => {
      done += 1;
      bytes += entry.blob.size;
      onHashed(done, bytes);
    };
    const unknown = [];
    const known = [];
    for (const entry of entries) {
      entry.sha256 = knownHash(entry);
      if (entry.sha256) {
        counted(entry);
        known.push(entry);
      } else unknown.push(entry);
    }
    if (known.length) onBatch(known);
    // Small files are read a batch at a time, as one Blob of many: each read of a picked file is
    // a round trip to the browser process, which cost more than hashing it (1,000 files: 0.75 s).
    const batches = hashBatches(unknown);
    let next = 0;
    const work = async () => {
      while (next < batches.length) {
        const batch = batches[next++];
        throwIfAborted(signal);
        const joined = batch.length === 1 ? batch[0].blob : new Blob(batch.map((entry) => entry.blob));
        const buffer = await joined.arrayBuffer();
        let offset = 0;
        const digests = batch.map((entry) => {
          const view = new Uint8Array(buffer, offset, entry.blob.size);
          offset += entry.blob.size;
          return crypto.subtle.digest("SHA-256", view);
        });
        const hashed = await Promise.all(digests);
        batch.forEach((entry, i) => {
          entry.sha256 = toHex(hashed[i]);
          rememberHash(entry);
          counted(entry);
        });
        onBatch(batch, buffer);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.hashConcurrency, batches.length) }, work));
  }

  /**
   * Hash the entries, ask /uploads which blobs are missing and PUT those, all at once: each chunk
   * of hashed files is asked about while the next is hashed, and its uploads start as soon as its
   * answer comes (`uploadConcurrency` PUTs at a time; small files travel in packs, one PUT of many
   * files back to back). Hashing 50 MB, asking about 1,000 files and uploading them one after
   * another cost the browser a third more than the CLI; overlapped, the slowest of them sets the
   * pace. Each content is asked about once, whatever number of paths carry it. Returns the
   * answers' receipts for the deploy call (at most PLAN_BYTE_CHUNKS plus one per 1,000 files: the
   * API takes 100 a deploy).
   *
   * Bytes hashing read are kept (HOLD_BYTES in all, counted until their PUT has ended) and sent from
   * memory; past the budget a PUT reads its files again. On a failure or an abort nothing goes on:
   * the PUTs and calls in flight are aborted, and no progress is reported after this returns.
   *
   * Progress never goes back a phase: "hashing" until the first chunk is asked about, "planning"
   * until the first PUT starts, then "uploading". `filesDone` counts hashed files in every phase;
   * while uploading, `bytesTotal` is what is left to stage: it shrinks as answers say what the
   * service has already, and equals the bytes uploaded once every chunk is answered. Staging
   * `again` (what a deploy found missing) reports from "uploading", with its own bytes.
   */
  async _stage(entries, report, signal, emit, { again = false } = {}) {
    const own = new AbortController();
    const forward = () => own.abort(signal.reason);
    if (signal) {
      if (signal.aborted) throw abortError(signal);
      signal.addEventListener("abort", forward, { once: true });
    }
    const stop = own.signal;
    let over = false; // set once this returns or throws: nothing reports or holds anything after
    const receipts = [];
    const asked = new Set();
    let held = 0; // bytes read while hashing and not yet sent (within HOLD_BYTES)
    const phases = ["hashing", "planning", "uploading"];
    let phase = again ? 2 : 0;
    const totalBytes = entries.reduce((sum, e) => sum + e.blob.size, 0);
    let hashedFiles = 0;
    let hashedBytes = 0;
    let notNeeded = 0; // bytes the service has already, or another path's copy of the same content
    let uploadsTotal = 0;
    const inFlight = new Map();
    let settled = 0;
    const progress = (reached = phase) => {
      if (over) return;
      phase = Math.max(phase, reached);
      if (phase === 0) {
        emit("hashing", { filesDone: hashedFiles, bytesDone: hashedBytes, bytesTotal: totalBytes });
        return;
      }
      let bytesDone = settled;
      for (const sent of inFlight.values()) bytesDone += sent;
      const bytesTotal = totalBytes - notNeeded;
      const filesDone = again ? report.files : hashedFiles;
      emit(phases[phase], { filesDone, bytesDone, bytesTotal, uploadsTotal });
    };
    const release = (entry) => {
      if (entry.bytes) held -= entry.bytes.byteLength;
      delete entry.bytes;
    };

    const uploads = new WorkQueue(this.uploadConcurrency, async (upload) => {
      try {
        progress(2);
        await this._put(upload, stop, (sent) => {
          inFlight.set(upload.key, sent);
          progress();
        });
        inFlight.delete(upload.key);
        settled += upload.size;
        report.uploadedFiles += upload.files;
        report.uploadedBytes += upload.size;
        progress();
      } finally {
        held -= upload.heldBytes; // its copy in the Blob is gone with the PUT
        upload.blob = null;
      }
    });
    const plans = new WorkQueue(PLAN_CONCURRENCY, async (chunk) => {
      progress(1);
      const plan = await this.request("POST", "/uploads", {
        body: { files: chunk.map((e) => ({ path: e.path, sha256: e.sha256, size: e.blob.size })), packs: true },
        signal: stop,
        retry: true,
      });
      if (over) return;
      if (typeof plan.receipt === "string") receipts.push(plan.receipt);
      report.alreadyStaged += plan.alreadyStaged || 0;
      const bySha = new Map(chunk.map((e) => [e.sha256, e]));
      // Bytes hashing read are sent from memory (a Blob of them holds its own copy, counted as
      // held until its PUT ends); the others are read from their files again as the PUT streams.
      const wanted = [
        ...(plan.packs || []).map((p) => ({ ...p, key: `pack:${p.id}`, members: p.members.map((m) => m.sha256) })),
        ...(plan.uploads || []).map((u) => ({ ...u, key: u.sha256, members: [u.sha256] })),
      ].map((upload) => {
        const members = upload.members.map((sha256) => bySha.get(sha256));
        const heldBytes = members.reduce((sum, e) => sum + (e.bytes ? e.bytes.byteLength : 0), 0);
        // A pack's body is its members' files back to back: the browser streams the parts itself.
        const blob = new Blob(members.map((e) => e.bytes || e.blob));
        for (const entry of members) delete entry.bytes; // now counted by the upload's heldBytes
        return { ...upload, files: members.length, blob, heldBytes };
      });
      for (const entry of chunk) release(entry); // the service has these: their bytes are not needed
      wanted.sort((a, b) => b.size - a.size);
      const wantedBytes = wanted.reduce((sum, u) => sum + u.size, 0);
      notNeeded += chunk.reduce((sum, e) => sum + e.blob.size, 0) - wantedBytes;
      uploadsTotal += wanted.length;
      uploads.add(wanted);
      progress();
    });

    progress(); // at once: the first files' reading takes a moment
    let chunk = [];
    let chunkBytes = 0;
    let chunks = 0;
    const flush = () => {
      if (!chunk.length) return;
      plans.add([chunk]);
      chunks += 1;
      chunk = [];
      chunkBytes = 0;
    };
    // While files are being hashed, the first chunks are cut by bytes too, so that PUTs start
    // early; later ones, and files whose hash was known (nothing to overlap), by files only.
    const full = (hashing) =>
      chunk.length >= PLAN_FILES ||
      (hashing && chunks < PLAN_BYTE_CHUNKS && chunkBytes >= (chunks ? PLAN_BYTES : PLAN_FIRST_BYTES));
    try {
      await this._hash(
        entries,
        stop,
        (done, bytes) => {
          hashedFiles = done;
          hashedBytes = bytes;
          progress();
        },
        (batch, buffer) => {
          const failure = plans.failure || uploads.failure;
          if (failure) throw failure;
          if (over) return;
          if (buffer && held + buffer.byteLength <= HOLD_BYTES) {
            held += buffer.byteLength;
            let offset = 0;
            for (const entry of batch) {
              entry.bytes = new Uint8Array(buffer, offset, entry.blob.size);
              offset += entry.blob.size;
            }
          }
          for (const entry of batch) {
            if (asked.has(entry.sha256)) {
              // Another path's copy of content already asked about: its bytes are not needed.
              release(entry);
              notNeeded += entry.blob.size;
              continue;
            }
            asked.add(entry.sha256);
            chunk.push(entry);
            chunkBytes += entry.blob.size;
            if (full(Boolean(buffer))) flush();
          }
        },
      );
      flush();
      plans.close();
      await plans.drained;
      uploads.close();
      await uploads.drained;
    } catch (error) {
      // A failure of ours, or the caller's abort: whichever came first is what the caller sees.
      throw signal && signal.aborted ? abortError(signal) : error;
    } finally {
      over = true;
      plans.stop();
      uploads.stop();
      own.abort(); // whatever is still in flight (after a failure) stops now
      if (signal) signal.removeEventListener("abort", forward);
      for (const entry of entries) delete entry.bytes;
    }
    return receipts.sort();
  }

  /** One presigned PUT, retried on network failures, 429 and 5xx. */
  async _put(upload, signal, onBytes) {
    // The browser sets Content-Length itself (a forbidden header); the checksum header is signed.
    const headers = Object.fromEntries(
      Object.entries(upload.headers || {}).filter(([name]) => name.toLowerCase() !== "content-length"),
    );
    for (let attempt = 0; ; attempt += 1) {
      throwIfAborted(signal);
      let status;
      let retryAfter = null;
      try {
        // An untyped copy of the blob: no Content-Type header, so the preflight asks for nothing more.
        ({ status, retryAfter } = await putBlob(upload.url, headers, new Blob([upload.blob]), signal, onBytes));
      } catch (cause) {
        if (signal && signal.aborted) throw abortError(signal);
        if (attempt < this.retries) {
          onBytes(0);
          await sleep(backoffMs(attempt), signal);
          continue;
        }
        throw new SitedeployError(`uploading a file to staging failed (${cause.message || cause})`, {
          code: "upload_failed",
          cause,
        });
      }
      if (status >= 200 && status < 300) return;
      if (RETRIED_STATUSES.has(status) && attempt < this.retries) {
        onBytes(0);
        await sleep(backoffMs(attempt, retryAfter), signal);
        continue;
      }
      throw new SitedeployError(`staging refused a file (HTTP ${status})`, { status, code: "upload_failed" });
    }
  }
}

/** PUT with upload progress: XMLHttpRequest where there is one (browsers), fetch elsewhere. */
function putBlob(url, headers, blob, signal, onBytes) {
  if (typeof XMLHttpRequest === "undefined") {
    return fetch(url, { method: "PUT", headers, body: blob, signal }).then((r) => {
      onBytes(blob.size);
      return { status: r.status, retryAfter: r.headers.get("Retry-After") };
    });
  }
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    for (const [name, value] of Object.entries(headers)) xhr.setRequestHeader(name, value);
    xhr.upload.onprogress = (event) => onBytes(event.loaded);
    // Retry-After is read only where it matters: reading a header S3 does not expose logs an error.
    xhr.onload = () =>
      resolve({
        status: xhr.status,
        retryAfter: RETRIED_STATUSES.has(xhr.status) ? xhr.getResponseHeader("Retry-After") : null,
      });
    xhr.onerror = () => reject(new Error("the upload could not reach staging (network or CORS)"));
    xhr.ontimeout = () => reject(new Error("the upload timed out"));
    xhr.onabort = () => reject(abortError(signal));
    if (signal) signal.addEventListener("abort", () => xhr.abort(), { once: true });
    xhr.send(blob);
  });
}

function errorFromAnswer(status, payload, statusText) {
  if (status === 401) {
    return new SitedeployError("unauthorized: the token is missing, invalid or expired", {
      status,
      code: "unauthorized",
    });
  }
  if (payload && typeof payload === "object") {
    const { error, message, code, ...details } = payload;
    return new SitedeployError(String(error || message || statusText || `HTTP ${status}`), {
      status,
      code: code || (status === 404 ? "not_found" : "http_error"),
      details,
    });
  }
  return new SitedeployError(`HTTP ${status} ${statusText || ""}`.trim(), { status, code: "http_error" });
}
