// A small history router: the app has a handful of screens, not worth a dependency.
import { useEffect, useState } from "react";

export type Route =
  | { name: "meetings" }
  | { name: "signin"; next: string }
  | { name: "signup"; next: string }
  | { name: "new" }
  | { name: "edit"; id: string }
  | { name: "join"; id: string }
  | { name: "summary"; id: string }
  | { name: "profile" }
  | { name: "adminStatus" }
  | { name: "notFound" };

const ID = "([a-z0-9-]{1,64})";

/** The screen for a path (and query string). */
export function match(path: string, search = ""): Route {
  const next = new URLSearchParams(search).get("next") ?? "";
  const safeNext = next.startsWith("/") && !next.startsWith("//") ? next : "";
  let m: RegExpMatchArray | null;
  if (path === "/" || path === "/meetings") return { name: "meetings" };
  if (path === "/signin") return { name: "signin", next: safeNext };
  if (path === "/signup") return { name: "signup", next: safeNext };
  if (path === "/new") return { name: "new" };
  if (path === "/profile") return { name: "profile" };
  if (path === "/admin/status") return { name: "adminStatus" };
  if ((m = path.match(new RegExp(`^/m/${ID}$`)))) return { name: "join", id: m[1] };
  if ((m = path.match(new RegExp(`^/m/${ID}/edit$`)))) return { name: "edit", id: m[1] };
  if ((m = path.match(new RegExp(`^/m/${ID}/summary$`)))) return { name: "summary", id: m[1] };
  return { name: "notFound" };
}

/** Screens that need a signed-in user. */
export const needsAuth = (r: Route) => r.name !== "signin" && r.name !== "signup" && r.name !== "notFound";

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  window.dispatchEvent(new PopStateEvent("popstate"));
}

export function useRoute(): Route {
  const [route, setRoute] = useState(() => match(location.pathname, location.search));
  useEffect(() => {
    const update = () => setRoute(match(location.pathname, location.search));
    window.addEventListener("popstate", update);
    return () => window.removeEventListener("popstate", update);
  }, []);
  return route;
}

/** The meeting id in a resource name, `meetings/{id}`. */
export const meetingId = (name: string) => name.split("/")[1] ?? "";
export const joinLink = (origin: string, name: string) => `${origin}/m/${meetingId(name)}`;
