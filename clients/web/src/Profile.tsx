// The profile: display name and avatar URL (UpdateUser).
import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import { useState, type FormEvent } from "react";
import { session, users } from "./api";
import { useI18n } from "./i18n";
import { ErrorBanner, Field, Page } from "./ui";
import { checkText, checkUrl, type Problem } from "./validation";

export function Profile() {
  const { t } = useI18n();
  const [name, setName] = useState(session.user?.displayName ?? "");
  const [avatar, setAvatar] = useState(session.user?.avatarUri ?? "");
  // The avatar URL as the platform gave it (possibly its own link to an uploaded avatar).
  const avatarChanged = avatar !== (session.user?.avatarUri ?? "");
  const [problems, setProblems] = useState<Record<string, Problem>>({});
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState("");

  async function save(e: FormEvent) {
    e.preventDefault();
    const found = { name: checkText(name, 100, true), avatar: avatarChanged ? checkUrl(avatar) : undefined };
    setProblems(found);
    if (Object.values(found).some(Boolean)) return;
    try {
      // The avatar URL goes only when it was edited: the one shown may be the platform's own
      // time-limited link to an uploaded avatar, which must not replace that avatar.
      const paths = avatarChanged ? ["display_name", "avatar_uri"] : ["display_name"];
      const r = await users.updateUser({
        user: { name: "users/me", displayName: name.trim(), avatarUri: avatar },
        updateMask: create(FieldMaskSchema, { paths }),
      });
      session.user = r.user;
      setNotice(t("form.saved"));
    } catch (err) {
      setError(err);
    }
  }

  return (
    <Page title={t("profile.title")}>
      <ErrorBanner error={error} onDismiss={() => setError(undefined)} />
      {notice && (
        <p className="banner info" role="status">
          {notice}
        </p>
      )}
      <form className="card form" onSubmit={save} noValidate>
        {avatar && (!avatarChanged || !checkUrl(avatar)) && <img className="avatar-img" src={avatar} alt="" width={64} height={64} />}
        <p className="muted">{session.user?.email}</p>
        <Field label={t("auth.displayName")} name="displayName" value={name} maxLength={100} problem={problems.name} onChange={(e) => setName(e.target.value)} />
        <Field label={t("profile.avatar")} name="avatar" type="url" value={avatar} problem={problems.avatar} hint={t("profile.uploadGap")} onChange={(e) => setAvatar(e.target.value)} />
        <button type="submit" className="primary">
          {t("form.save")}
        </button>
      </form>
    </Page>
  );
}
