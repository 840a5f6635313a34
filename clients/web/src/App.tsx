// The shell: language, session, navigation, and one screen per route.
import { useEffect, useMemo, useState, useSyncExternalStore } from "react";
import { AdminStatus, isAdmin, statusNavLabel } from "./AdminStatus";
import { loadMe, session, signOut } from "./api";
import { Auth } from "./Auth";
import { initialLang, LangContext, translate, type Lang } from "./i18n";
import { Join } from "./Join";
import { MeetingEditor, Meetings } from "./Meetings";
import { Profile } from "./Profile";
import { navigate, needsAuth, useRoute } from "./router";
import { Summary } from "./Summary";
import { ErrorBanner, LangButton, Page } from "./ui";

let version = 0;
const subscribeSession = (cb: () => void) => {
  session.onChange = () => {
    version++;
    cb();
  };
  return () => {
    session.onChange = () => undefined;
  };
};

export function App() {
  const [lang, setLangState] = useState<Lang>(() => initialLang(localStorage.getItem("meetmesh.lang"), navigator.language));
  const i18n = useMemo(
    () => ({
      lang,
      t: (key: string, vars?: Record<string, string | number>) => translate(lang, key, vars),
      setLang: (l: Lang) => {
        localStorage.setItem("meetmesh.lang", l);
        setLangState(l);
      },
    }),
    [lang],
  );
  useEffect(() => {
    document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
    document.title = translate(lang, "app.name");
  }, [lang]);

  useSyncExternalStore(subscribeSession, () => version);
  const route = useRoute();
  const [bootError, setBootError] = useState<unknown>();
  const signedIn = session.signedIn;

  useEffect(() => {
    if (needsAuth(route) && !signedIn) {
      const next = location.pathname + location.search;
      navigate(`/signin${next !== "/" ? `?next=${encodeURIComponent(next)}` : ""}`, true);
    }
  }, [route, signedIn]);

  useEffect(() => {
    if (signedIn && !session.user) {
      loadMe().catch((err) => {
        if (!session.signedIn) return; // the refresh failed: signed out, the effect above redirects
        setBootError(err);
      });
    }
  }, [signedIn]);

  const { t } = i18n;
  const inRoom = route.name === "join";
  let screen;
  if (needsAuth(route) && !signedIn) screen = null;
  else if (route.name === "signin" || route.name === "signup") screen = <Auth mode={route.name} next={route.next} />;
  else if (route.name === "meetings") screen = <Meetings />;
  else if (route.name === "new") screen = <MeetingEditor />;
  else if (route.name === "edit") screen = <MeetingEditor id={route.id} />;
  else if (route.name === "join") screen = <Join id={route.id} />;
  else if (route.name === "summary") screen = <Summary id={route.id} />;
  else if (route.name === "profile") screen = <Profile />;
  else if (route.name === "adminStatus") screen = <AdminStatus />;
  else screen = <Page title={t("err.notFound")}>{null}</Page>;

  return (
    <LangContext.Provider value={i18n}>
      <a className="skip" href="#main">
        {t("app.skip")}
      </a>
      {!inRoom && (
        <header className="top">
          <a className="brand" href="/" onClick={(e) => (e.preventDefault(), navigate("/"))}>
            {t("app.name")}
          </a>
          <nav aria-label={t("nav.main")}>
            {signedIn && (
              <>
                <a href="/" onClick={(e) => (e.preventDefault(), navigate("/"))}>
                  {t("nav.meetings")}
                </a>
                <a href="/new" onClick={(e) => (e.preventDefault(), navigate("/new"))}>
                  {t("nav.new")}
                </a>
                <a href="/profile" onClick={(e) => (e.preventDefault(), navigate("/profile"))}>
                  {t("nav.profile")}
                </a>
                {isAdmin() && (
                  <a href="/admin/status" onClick={(e) => (e.preventDefault(), navigate("/admin/status"))}>
                    {statusNavLabel(lang)}
                  </a>
                )}
              </>
            )}
            <LangButton />
            {signedIn && (
              <button type="button" className="link" onClick={() => void signOut().then(() => navigate("/signin"))}>
                {t("nav.signOut")}
              </button>
            )}
          </nav>
        </header>
      )}
      <ErrorBanner error={bootError} onDismiss={() => setBootError(undefined)} />
      {screen}
    </LangContext.Provider>
  );
}
