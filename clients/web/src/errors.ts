// Turning failures into messages people can read, in both languages (keys of i18n.ts).
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { Code, ConnectError } from "@connectrpc/connect";

/** The `ErrorInfo.reason` the platform attached (meetmesh.common.v1.ErrorReason without prefix). */
export function errorReason(err: unknown): string {
  if (!(err instanceof ConnectError)) return "";
  for (const detail of err.details) {
    if ("type" in detail && detail.type === "google.rpc.ErrorInfo") {
      return decodeErrorInfoReason(detail.value);
    }
  }
  return "";
}

/** Field 1 (`reason`) of a serialized google.rpc.ErrorInfo. */
export function decodeErrorInfoReason(bytes: Uint8Array): string {
  const reader = new BinaryReader(bytes);
  while (reader.pos < reader.len) {
    const [no, wire] = reader.tag();
    if (no === 1 && wire === 2) return reader.string();
    reader.skip(wire);
  }
  return "";
}

const BY_REASON: Record<string, string> = {
  INVALID_CREDENTIALS: "err.invalidCredentials",
  WRONG_PASSCODE: "err.wrongPasscode",
  MEETING_FULL: "err.meetingFull",
  MEETING_ENDED: "err.meetingEnded",
  ADMISSION_DENIED: "err.denied",
  TOKEN_EXPIRED: "err.sessionExpired",
  INVALID_TOKEN: "err.sessionExpired",
  MISSING_CREDENTIALS: "err.sessionExpired",
  REFRESH_TOKEN_REUSED: "err.sessionExpired",
  ACCOUNT_DISABLED: "err.accountDisabled",
  ALREADY_EXISTS: "err.alreadyExists",
  RATE_LIMITED: "err.rateLimited",
  NOT_FOUND: "err.notFound",
  PERMISSION_DENIED: "err.permissionDenied",
  INVALID_FIELD: "err.invalidField",
  DEPENDENCY_UNAVAILABLE: "err.unreachable",
  PAYLOAD_TOO_LARGE: "err.tooLarge",
};

const BY_CODE: Partial<Record<Code, string>> = {
  [Code.Unavailable]: "err.unreachable",
  [Code.DeadlineExceeded]: "err.unreachable",
  [Code.Unauthenticated]: "err.sessionExpired",
  [Code.PermissionDenied]: "err.permissionDenied",
  [Code.NotFound]: "err.notFound",
  [Code.AlreadyExists]: "err.alreadyExists",
  [Code.ResourceExhausted]: "err.rateLimited",
  [Code.InvalidArgument]: "err.invalidField",
};

/** The i18n key of the message for an error (never a stack trace). */
export function errorKey(err: unknown): string {
  if (typeof err === "string") return err;
  const reason = errorReason(err);
  if (reason && BY_REASON[reason]) return BY_REASON[reason];
  if (err instanceof ConnectError) return BY_CODE[err.code] ?? "err.unknown";
  if (err instanceof TypeError) return "err.unreachable"; // fetch failed: network or edge down
  if (err instanceof DOMException && (err.name === "NotAllowedError" || err.name === "NotFoundError")) {
    return "err.devices";
  }
  return "err.unknown";
}

/** Map a signaling `Left.reason` to the message key shown when the session ends. */
export function leftKey(reason: string): string {
  return (
    { removed: "left.removed", meeting_ended: "left.ended", replaced: "left.replaced", left: "left.left" }[reason] ??
    "left.left"
  );
}
