// Every API call goes through the edge as gRPC-web (connect-web), with the generated clients.
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Code, ConnectError, createClient, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { AnalysisService } from "@gen/meetmesh/ai/v1/ai_pb";
import { MeetingService } from "@gen/meetmesh/meeting/v1/meeting_pb";
import { UserService, type SessionTokens, type User } from "@gen/meetmesh/user/v1/user_pb";
import { errorReason } from "./errors";

const REFRESH_KEY = "meetmesh.refresh";

/** The signed-in session: access token in memory, refresh token in localStorage (single use). */
export class Session {
  accessToken = "";
  accessExpiresAt = 0;
  user: User | undefined;
  private refreshing: Promise<void> | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  onChange: () => void = () => undefined;

  constructor(private storage: Pick<Storage, "getItem" | "setItem" | "removeItem">) {}

  get refreshToken(): string {
    return this.storage.getItem(REFRESH_KEY) ?? "";
  }

  get signedIn(): boolean {
    return this.accessToken !== "" || this.refreshToken !== "";
  }

  setTokens(tokens: SessionTokens | undefined, now = Date.now()): void {
    if (!tokens) return;
    this.accessToken = tokens.accessToken;
    this.accessExpiresAt = tokens.accessTokenExpireTime ? timestampDate(tokens.accessTokenExpireTime).getTime() : now;
    this.storage.setItem(REFRESH_KEY, tokens.refreshToken);
    this.schedule(now);
    this.onChange();
  }

  /** Refresh a minute before expiry (or at half the lifetime when shorter). */
  refreshDelay(now = Date.now()): number {
    const left = this.accessExpiresAt - now;
    return Math.max(1000, left - 60_000, left / 2);
  }

  private schedule(now: number): void {
    clearTimeout(this.timer);
    if (typeof window === "undefined") return;
    this.timer = setTimeout(() => void this.refresh().catch(() => undefined), this.refreshDelay(now));
  }

  /** One refresh at a time: a refresh token is single use, a second concurrent use revokes the login. */
  refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      const refreshToken = this.refreshToken;
      if (!refreshToken) throw new ConnectError("signed out", Code.Unauthenticated);
      try {
        const reply = await users.refreshSession({ refreshToken });
        this.setTokens(reply.tokens);
      } catch (err) {
        if (err instanceof ConnectError && err.code === Code.Unauthenticated) this.clear();
        throw err;
      }
    })().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  async ensureFresh(now = Date.now()): Promise<void> {
    if (!this.accessToken || this.accessExpiresAt - now < 10_000) await this.refresh();
  }

  clear(): void {
    clearTimeout(this.timer);
    this.accessToken = "";
    this.accessExpiresAt = 0;
    this.user = undefined;
    this.storage.removeItem(REFRESH_KEY);
    this.onChange();
  }
}

export const session = new Session(
  typeof localStorage === "undefined" ? new Map<string, string>() as never : localStorage,
);

const ANONYMOUS = new Set(["Register", "Login", "RefreshSession", "Logout"]);

/** Adds the bearer token; refreshes silently before expiry, and once more on an expired token. */
const auth: Interceptor = (next) => async (req) => {
  if (ANONYMOUS.has(req.method.name)) return next(req);
  await session.ensureFresh();
  req.header.set("authorization", `Bearer ${session.accessToken}`);
  try {
    return await next(req);
  } catch (err) {
    if (err instanceof ConnectError && err.code === Code.Unauthenticated && errorReason(err) === "TOKEN_EXPIRED") {
      await session.refresh();
      req.header.set("authorization", `Bearer ${session.accessToken}`);
      return next(req);
    }
    throw err;
  }
};

const transport = createGrpcWebTransport({
  baseUrl: typeof location === "undefined" ? "http://127.0.0.1:8800" : location.origin,
  interceptors: [auth],
});

export const users = createClient(UserService, transport);
export const meetings = createClient(MeetingService, transport);
export const analysis = createClient(AnalysisService, transport);

export async function signIn(email: string, password: string): Promise<User | undefined> {
  const reply = await users.login({ email, password });
  session.user = reply.user;
  session.setTokens(reply.tokens);
  return reply.user;
}

export async function signOut(): Promise<void> {
  const refreshToken = session.refreshToken;
  session.clear();
  if (refreshToken) await users.logout({ refreshToken }).catch(() => undefined);
}

export async function loadMe(): Promise<User | undefined> {
  const reply = await users.getUser({ name: "users/me" });
  session.user = reply.user;
  session.onChange();
  return reply.user;
}

/** The WebSocket URL of signaling behind the edge (same origin). */
export function rtcUrl(path = "/rtc"): string {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  return `${proto}//${location.host}${path}`;
}

/** Whether a URL is one of the edge's signed object URLs issued to a user: the edge then wants the
 * user's access token too, which `<img>` and `<video>` cannot send. */
export function needsToken(uri: string, origin = typeof location === "undefined" ? "" : location.origin): boolean {
  try {
    const url = new URL(uri, origin || undefined);
    return url.origin === origin && url.pathname.startsWith("/objects/") && url.searchParams.has("u");
  } catch {
    return false;
  }
}

/** A URL an element can load: S3's presigned URLs as they are; the edge's user-bound object URLs
 * fetched with the access token into a blob URL (revoke it when done). */
export async function loadableUrl(uri: string): Promise<string> {
  if (!uri || !needsToken(uri)) return uri;
  await session.ensureFresh();
  const reply = await fetch(uri, { headers: { authorization: `Bearer ${session.accessToken}` } });
  if (!reply.ok) throw new ConnectError(`object fetch failed: ${reply.status}`, reply.status === 404 ? Code.NotFound : Code.PermissionDenied);
  return URL.createObjectURL(await reply.blob());
}

/** PUT a file to an upload URL with progress (fraction 0..1); the edge's URLs get the token. */
export async function putWithProgress(uri: string, file: Blob, contentType: string, onProgress: (f: number) => void): Promise<void> {
  const token = needsToken(uri) ? (await session.ensureFresh(), session.accessToken) : "";
  await new Promise<void>((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", uri);
    xhr.setRequestHeader("content-type", contentType);
    if (token) xhr.setRequestHeader("authorization", `Bearer ${token}`);
    xhr.upload.onprogress = (e) => e.lengthComputable && onProgress(e.loaded / e.total);
    xhr.onload = () => (xhr.status >= 200 && xhr.status < 300 ? resolve() : reject(new ConnectError(`upload failed: ${xhr.status}`, Code.Unavailable)));
    xhr.onerror = () => reject(new TypeError("upload failed"));
    xhr.send(file);
  });
  onProgress(1);
}
