// Sign in and sign up (sign-up signs in at once), then back to where the person was going.
import { useState, type FormEvent } from "react";
import { signIn, users } from "./api";
import { useI18n } from "./i18n";
import { navigate } from "./router";
import { ErrorBanner, Field, Page } from "./ui";
import { checkEmail, checkPassword, checkText, type Problem } from "./validation";

export function Auth({ mode, next }: { mode: "signin" | "signup"; next: string }) {
  const { t } = useI18n();
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [name, setName] = useState("");
  const [problems, setProblems] = useState<Record<string, Problem>>({});
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const signup = mode === "signup";
  const query = next ? `?next=${encodeURIComponent(next)}` : "";

  async function submit(e: FormEvent) {
    e.preventDefault();
    const found: Record<string, Problem> = signup
      ? { email: checkEmail(email), password: checkPassword(password), name: checkText(name, 100, true) }
      : { email: checkEmail(email), password: password ? undefined : { key: "val.required" } };
    setProblems(found);
    if (Object.values(found).some(Boolean)) return;
    setBusy(true);
    setError(undefined);
    try {
      if (signup) await users.register({ email, password, displayName: name.trim() });
      await signIn(email, password);
      navigate(next || "/", true);
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <Page title={t(signup ? "auth.signUp" : "auth.signIn")}>
      {next.startsWith("/m/") && <p className="banner info">{t("auth.toJoin")}</p>}
      <ErrorBanner error={error} />
      <form onSubmit={submit} noValidate className="card form">
        <Field label={t("auth.email")} type="email" name="email" autoComplete="email" value={email} problem={problems.email} onChange={(e) => setEmail(e.target.value)} />
        <Field
          label={t("auth.password")}
          type="password"
          name="password"
          autoComplete={signup ? "new-password" : "current-password"}
          value={password}
          problem={problems.password}
          onChange={(e) => setPassword(e.target.value)}
        />
        {signup && (
          <Field label={t("auth.displayName")} name="displayName" autoComplete="name" value={name} problem={problems.name} onChange={(e) => setName(e.target.value)} />
        )}
        <button type="submit" className="primary" disabled={busy}>
          {t(signup ? "auth.signUp" : "auth.signIn")}
        </button>
      </form>
      <p>
        {t(signup ? "auth.haveAccount" : "auth.noAccount")}{" "}
        <a href={`/${signup ? "signin" : "signup"}${query}`} onClick={(e) => (e.preventDefault(), navigate(`/${signup ? "signin" : "signup"}${query}`))}>
          {t(signup ? "auth.signIn" : "auth.signUp")}
        </a>
      </p>
    </Page>
  );
}
