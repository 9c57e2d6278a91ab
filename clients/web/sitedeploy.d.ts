// Types of sitedeploy.js, the browser client of the sitedeploy API.

export type Platform = "cloudflare" | "amplify" | "netlify" | "vercel";
export type AuthMode = "platform-managed" | "user-token";
export type DeploymentStatus = "pending" | "uploading" | "building" | "ready" | "error";
export type HtmlHandling = "auto-trailing-slash" | "force-trailing-slash" | "drop-trailing-slash" | "none";

export declare const PLATFORMS: readonly Platform[];
export declare const TERMINAL_STATUSES: readonly DeploymentStatus[];

/** An API or network failure: `status` 0 when nothing answered; `code` is the API's machine code
 * (validation_error, blobs_missing, credentials_rejected, connection_required, not_found, ...). */
export declare class SitedeployError extends Error {
  readonly status: number;
  readonly code: string;
  /** Further machine-readable fields of the API's answer (e.g. `missing` of a 409 blobs_missing). */
  readonly details: Record<string, unknown>;
  constructor(message: string, init?: { status?: number; code?: string; details?: Record<string, unknown>; cause?: unknown });
}

export interface ClientOptions {
  /** The API's base URL, e.g. https://abc.execute-api.us-east-1.amazonaws.com */
  apiUrl: string;
  /** The user's JWT, or a function that returns a fresh one for each request. */
  token?: string | (() => string | Promise<string>);
  fetch?: typeof fetch;
  /** Attempts after the first for calls safe to repeat (default 4). */
  retries?: number;
  /** Presigned PUTs at a time (default 6: a browser's connections per host). */
  uploadConcurrency?: number;
  hashConcurrency?: number;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

/** A file of a site: a path relative to the site's root and its bytes. */
export interface SiteFile {
  path: string;
  data: Blob | ArrayBuffer | ArrayBufferView | string;
}
export type SiteFiles = FileList | File[] | SiteFile[] | Record<string, Blob | ArrayBuffer | ArrayBufferView | string>;

export interface CloudflareCredentials {
  token: string;
  accountId: string;
  /** An existing Worker of that account to update (the front end's projectId means the same). */
  workerName?: string;
}
export interface AmplifyCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
  region: string;
  /** The Amplify app to deploy to; one is created when absent. */
  appId?: string;
}
export interface NetlifyCredentials {
  /** A personal access token. */
  token: string;
  /** The team (account) slug; the token's first team when absent. */
  accountSlug?: string;
  /** An existing site (its name) to update. */
  siteId?: string;
}
export interface VercelCredentials {
  token: string;
  /** For a team-scoped token; the personal account when absent. */
  teamId?: string;
  /** An existing project (its name) to update. */
  projectId?: string;
}
export type Credentials = CloudflareCredentials | AmplifyCredentials | NetlifyCredentials | VercelCredentials;

/** Phases never go back. Staging overlaps hashing: "planning" starts when the first hashed files
 * are asked about and "uploading" with the first PUT, while later files may still be hashed. A
 * deploy refused for blobs missing stages those again: its "uploading" events then count the bytes
 * of what it stages again. Nothing is reported once `deploy` has settled. */
export type DeployPhase = "hashing" | "planning" | "uploading" | "deploying" | "done";
export interface DeployProgress {
  phase: DeployPhase;
  files: number;
  totalBytes: number;
  uploadedFiles: number;
  uploadedBytes: number;
  alreadyStaged: number;
  /** Files hashed so far (in every phase up to "deploying"). */
  filesDone?: number;
  /** "hashing": bytes hashed; "planning", "uploading": bytes uploaded. */
  bytesDone?: number;
  /** "hashing": the folder's bytes; "planning", "uploading": the bytes left to stage, which
   * shrinks as /uploads answers say what the service has already (exact once all are answered). */
  bytesTotal?: number;
  uploadsTotal?: number;
  deploymentId?: string;
  status?: DeploymentStatus;
  /** The deployment's own progress, 0-100. */
  progress?: number;
}

export interface DeployOptions extends RequestOptions {
  projectName?: string;
  chatId?: string;
  authMode?: AuthMode;
  /** Only sent in user-token mode; without them the stored connection is used. */
  credentials?: Partial<CloudflareCredentials & AmplifyCredentials & NetlifyCredentials & VercelCredentials>;
  spa?: boolean;
  htmlHandling?: HtmlHandling;
  /** "preview": published beside production, which keeps serving what it served (default "production"). */
  target?: Target;
  onProgress?: (progress: DeployProgress) => void;
  /** Follow the deployment until ready or error (default true). */
  wait?: boolean;
  /** "auto" (default): one inline request for small sites, staged uploads otherwise. */
  inline?: boolean | "auto";
}

export interface DeployResponse {
  success: boolean;
  deploymentId: string;
  status: DeploymentStatus;
  url?: string | null;
  error?: string | null;
  statusUrl: string;
  siteId: string;
  kind?: DeploymentKind;
  target?: Target;
}

export type Target = "production" | "preview";
export type DeploymentKind = "deploy" | "rollback" | "promote" | "claim";

export interface DeploymentStatusResponse {
  deploymentId: string;
  platform: Platform;
  status: DeploymentStatus;
  url?: string | null;
  error?: string | null;
  progress: number;
  startedAt?: string | null;
  completedAt?: string | null;
  createdAt: string;
  updatedAt: string;
  chatId?: string | null;
  projectName: string;
  siteId: string;
  authMode: AuthMode;
  fileCount: number;
  totalSizeBytes: number;
  /** The local stack only: where its emulator serves the site. */
  localUrl?: string | null;
  kind?: DeploymentKind;
  target?: Target;
  /** rollback, promote, claim: the version whose files it publishes. */
  sourceDeploymentId?: string | null;
  /** A preview's URL (the chat's preview: it follows the chat's newest preview). */
  previewUrl?: string | null;
  localPreviewUrl?: string | null;
}

/** A deployment as a version of its site. */
export interface Version extends DeploymentStatusResponse {
  /** Production serves it now. */
  live: boolean;
  /** The site keeps it: a rollback (or, for a preview, a promote) can make it live again. */
  rollbackAvailable: boolean;
}

export interface VersionList {
  siteId: string;
  liveDeploymentId?: string | null;
  /** How many versions each site keeps (the rollback promise). */
  versionsKept: number;
  deployments: Version[];
  nextCursor?: string | null;
}

export type DomainStatus = "pending_verification" | "pending_certificate" | "active" | "failed";

/** A record to create at the DNS provider: `routing` sends traffic, `ownership` proves the name, `certificate` lets it be issued. */
export interface DnsRecord {
  type: string;
  name: string;
  value: string;
  purpose: "routing" | "ownership" | "certificate";
}

export interface Domain {
  hostname: string;
  siteId: string;
  status: DomainStatus;
  records: DnsRecord[];
  /** The platform's words for where it is (or why it failed). */
  reason?: string | null;
  createdAt: string;
  updatedAt: string;
}

export interface VersionActionOptions extends RequestOptions {
  /** For a site on the user's own account; without them the stored connection is used. */
  credentials?: Partial<CloudflareCredentials & AmplifyCredentials & NetlifyCredentials & VercelCredentials>;
  /** Follow the new deployment until ready or error (default true). */
  wait?: boolean;
  onStatus?: (state: DeploymentStatusResponse) => void;
}

export interface DeployResult {
  deploymentId: string;
  siteId: string;
  status: DeploymentStatus;
  url: string | null;
  localUrl: string | null;
  target: Target;
  previewUrl: string | null;
  localPreviewUrl: string | null;
  error: string | null;
  files: number;
  totalBytes: number;
  uploadedFiles: number;
  uploadedBytes: number;
  alreadyStaged: number;
  seconds: number;
  deployment: DeploymentStatusResponse | DeployResponse;
}

export interface Connection {
  platform: Platform;
  accountId?: string | null;
  accountName?: string | null;
  appId?: string | null;
  region?: string | null;
  createdAt: string;
  updatedAt: string;
}
export interface PlatformAvailability {
  platform: Platform;
  quickDeploy: boolean;
  connected: boolean;
  connection?: Connection | null;
}
export interface Site {
  siteId: string;
  platform: Platform;
  projectName: string;
  authMode: AuthMode;
  url?: string | null;
  lastDeploymentId?: string | null;
  createdAt: string;
  updatedAt: string;
  expiresAt?: string | null;
  deleting?: boolean;
  /** The version production serves. */
  liveDeploymentId?: string | null;
  /** A site holding a chat's previews (an Amplify branch of its own): the site it previews. */
  previewOf?: string | null;
}

export declare function sha256Hex(data: Blob | ArrayBuffer | ArrayBufferView | string): Promise<string>;
export declare function filesFromFileList(list: FileList | File[]): SiteFile[];
export declare function filesFromDataTransfer(dataTransfer: DataTransfer): Promise<SiteFile[]>;

export declare class SitedeployClient {
  readonly apiUrl: string;
  token?: ClientOptions["token"];
  constructor(options: ClientOptions);
  request<T = unknown>(
    method: string,
    path: string,
    options?: RequestOptions & { body?: unknown; query?: Record<string, string | number | undefined | null>; headers?: Record<string, string>; retry?: boolean },
  ): Promise<T>;
  platforms(options?: RequestOptions): Promise<{ platforms: PlatformAvailability[] }>;
  connections(options?: RequestOptions): Promise<{ connections: Connection[] }>;
  connect(platform: Platform, credentials: Credentials, options?: RequestOptions): Promise<Connection>;
  verifyConnection(platform: Platform, credentials: Credentials, options?: RequestOptions): Promise<{ valid: boolean; connection: Connection }>;
  disconnect(platform: Platform, options?: RequestOptions): Promise<void>;
  platformStats(platform: Platform, options?: RequestOptions): Promise<Record<string, unknown>>;
  sites(options?: RequestOptions): Promise<{ sites: Site[] }>;
  deleteSite(siteId: string, options?: RequestOptions): Promise<void>;
  deployments(options?: RequestOptions & { chatId?: string; limit?: number; cursor?: string }): Promise<{ deployments: DeploymentStatusResponse[]; nextCursor?: string | null }>;
  deployment(deploymentId: string, options?: RequestOptions): Promise<DeploymentStatusResponse>;
  deploy(platform: Platform, files: SiteFiles, options?: DeployOptions): Promise<DeployResult>;
  versions(siteId: string, options?: RequestOptions & { limit?: number; cursor?: string }): Promise<VersionList>;
  domains(siteId: string, options?: RequestOptions): Promise<{ siteId: string; domains: Domain[] }>;
  addDomain(siteId: string, hostname: string, options?: RequestOptions): Promise<Domain>;
  removeDomain(siteId: string, hostname: string, options?: RequestOptions): Promise<void>;
  rollback(
    siteId: string,
    options?: VersionActionOptions & { deploymentId?: string },
  ): Promise<DeploymentStatusResponse | DeployResponse>;
  promote(deploymentId: string, options?: VersionActionOptions): Promise<DeploymentStatusResponse | DeployResponse>;
  claim(
    siteId: string,
    options?: VersionActionOptions & { projectName?: string; release?: boolean },
  ): Promise<DeploymentStatusResponse | DeployResponse>;
  waitForDeployment(
    deploymentId: string,
    options?: RequestOptions & { onStatus?: (state: DeploymentStatusResponse) => void; timeoutMs?: number },
  ): Promise<DeploymentStatusResponse>;
}
