// Form checks that mirror the protos' buf.validate constraints, so people see the rule before the
// platform refuses the request. Values are i18n keys (with variables).
export type Problem = { key: string; vars?: Record<string, number> } | undefined;

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;

export function checkEmail(v: string): Problem {
  if (!v) return { key: "val.required" };
  if (v.length > 254 || !EMAIL.test(v)) return { key: "val.email" };
  return undefined;
}

export function checkPassword(v: string): Problem {
  if (v.length < 10) return { key: "val.password" };
  if (v.length > 256) return { key: "val.tooLong", vars: { max: 256 } };
  return undefined;
}

export function checkText(v: string, max: number, required = false): Problem {
  if (required && !v.trim()) return { key: "val.required" };
  if ([...v].length > max) return { key: "val.tooLong", vars: { max } };
  return undefined;
}

export function checkPasscode(v: string): Problem {
  if (v && ([...v].length < 4 || [...v].length > 64)) return { key: "val.passcode" };
  return undefined;
}

export function checkCapacity(v: string): Problem {
  const n = Number(v);
  if (v === "" || !Number.isInteger(n) || n < 0 || n > 1000) return { key: "val.capacity" };
  return undefined;
}

export function checkTimes(start: string, end: string): Problem {
  if (start && end && new Date(end).getTime() <= new Date(start).getTime()) return { key: "val.endAfterStart" };
  return undefined;
}

export function checkUrl(v: string): Problem {
  if (!v) return undefined;
  try {
    const u = new URL(v);
    if (u.protocol !== "https:" || u.username || u.password) return { key: "val.url" }; // the proto: https, no credentials
  } catch {
    return { key: "val.url" };
  }
  return v.length > 2048 ? { key: "val.tooLong", vars: { max: 2048 } } : undefined;
}

export interface MeetingForm {
  title: string;
  description: string;
  start: string;
  end: string;
  passcode: string;
  capacity: string;
}

export function checkMeeting(f: MeetingForm): Record<string, Problem> {
  const problems: Record<string, Problem> = {
    title: checkText(f.title, 200, true),
    description: checkText(f.description, 5000),
    passcode: checkPasscode(f.passcode),
    capacity: checkCapacity(f.capacity),
    end: checkTimes(f.start, f.end),
  };
  return Object.fromEntries(Object.entries(problems).filter(([, p]) => p));
}

/** `datetime-local` value (local time) for a Date, and back. */
export function toLocalInput(d: Date | undefined): string {
  if (!d) return "";
  const pad = (n: number) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

const AVATAR_TYPES = ["image/png", "image/jpeg", "image/webp"];

/** CreateAvatarUploadRequest's rules: PNG, JPEG or WebP, 1 byte to 5 MiB. */
export function checkAvatarFile(type: string, size: number): Problem {
  if (!AVATAR_TYPES.includes(type) || size <= 0 || size > 5 * 1024 * 1024) return { key: "profile.badImage" };
  return undefined;
}
