// Small shared pieces: labelled fields, error banners.
import { useEffect, useId, useState, type InputHTMLAttributes, type ReactNode } from "react";
import { loadableUrl } from "./api";
import { errorKey } from "./errors";
import { LangContext, useI18n } from "./i18n";
import type { Problem } from "./validation";

export function Field(
  props: { label: string; problem?: Problem; hint?: string } & InputHTMLAttributes<HTMLInputElement>,
) {
  const { label, problem, hint, ...input } = props;
  const { t } = useI18n();
  const id = useId();
  const described = [problem ? `${id}-err` : "", hint ? `${id}-hint` : ""].filter(Boolean).join(" ") || undefined;
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input id={id} aria-invalid={problem ? true : undefined} aria-describedby={described} {...input} />
      {hint && (
        <p className="hint" id={`${id}-hint`}>
          {hint}
        </p>
      )}
      {problem && (
        <p className="problem" id={`${id}-err`} role="alert">
          {t(problem.key, problem.vars)}
        </p>
      )}
    </div>
  );
}

export function Check(props: { label: string; checked: boolean; onChange: (v: boolean) => void; name?: string }) {
  const id = useId();
  return (
    <div className="check">
      <input id={id} type="checkbox" name={props.name} checked={props.checked} onChange={(e) => props.onChange(e.target.checked)} />
      <label htmlFor={id}>{props.label}</label>
    </div>
  );
}

/** A bilingual message for an error (an i18n key or a thrown value), with a dismiss button. */
export function ErrorBanner({ error, onDismiss }: { error: unknown; onDismiss?: () => void }) {
  const { t } = useI18n();
  if (!error) return null;
  return (
    <div className="banner error" role="alert" data-testid="error">
      <span>{t(errorKey(error))}</span>
      {onDismiss && (
        <button type="button" className="link" onClick={onDismiss}>
          {t("err.dismiss")}
        </button>
      )}
    </div>
  );
}

export function Page({ title, children, wide }: { title: string; children: ReactNode; wide?: boolean }) {
  return (
    <main id="main" className={wide ? "page wide" : "page"} tabIndex={-1}>
      <h1>{title}</h1>
      {children}
    </main>
  );
}

/** Switches between English and Simplified Chinese. */
export function LangButton() {
  return (
    <LangContext.Consumer>
      {({ lang, t, setLang }) => (
        <button
          type="button"
          className="link"
          data-testid="lang"
          lang={lang === "en" ? "zh-CN" : "en"}
          aria-label={`${t("lang.label")}: ${t("lang.switch")}`}
          onClick={() => setLang(lang === "en" ? "zh" : "en")}
        >
          {t("lang.switch")}
        </button>
      )}
    </LangContext.Consumer>
  );
}

/** `loadableUrl` as a hook: the blob URL is revoked when the source changes or the view goes. */
export function useLoadableUrl(uri: string): string {
  const [url, setUrl] = useState("");
  useEffect(() => {
    let current = "";
    let live = true;
    loadableUrl(uri).then(
      (u) => {
        current = u;
        if (live) setUrl(u);
        else if (u.startsWith("blob:")) URL.revokeObjectURL(u);
      },
      () => live && setUrl(""),
    );
    return () => {
      live = false;
      if (current.startsWith("blob:")) URL.revokeObjectURL(current);
    };
  }, [uri]);
  return url;
}
