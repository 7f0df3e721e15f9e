/** `rkt fetch`: image arguments, auth.d, pull policies, downloads, verification, dependencies. */
export {
  ascPathFor,
  ascUrlFor,
  classifyImage,
  parseFetchOperands,
  type FetchArgFlags,
  type FetchRequest,
  type ImageArg,
} from './args.js';
export {
  authorizationFor,
  loadAuthHeaders,
  loadDockerCredentials,
  parseAuthFile,
  type AuthHeaders,
  type DockerCredentials,
} from './auth.js';
export { Fetcher, type FetcherOptions, type InsecureFetch } from './fetcher.js';
export { hostLabels, withHostLabels } from './labels.js';
export { resolveStored } from './local.js';
export { HttpClient, type HttpOptions, type HttpResponse } from './http.js';
export { manifestMismatch } from './match.js';
export {
  checksStoreFirst,
  isFresh,
  mayDownload,
  parseMaxAge,
  parsePullPolicy,
  pullPolicyFromFlags,
  type PullPolicy,
} from './policy.js';
export { progressLine, progressStream } from './progress.js';
