// The profile: display name, avatar upload (CreateAvatarUpload -> PUT with progress -> CommitAvatar)
// or an avatar URL (UpdateUser).
import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema } from "@bufbuild/protobuf/wkt";
import type { User } from "@gen/meetmesh/user/v1/user_pb";
import { useState, type ChangeEvent, type FormEvent } from "react";
import { putWithProgress, session, users } from "./api";
import { useI18n } from "./i18n";
import { ErrorBanner, Field, Page, useLoadableUrl } from "./ui";
import { checkAvatarFile, checkText, checkUrl, type Problem } from "./validation";

export function Profile() {
  const { t } = useI18n();
  const [user, setUser] = useState<User | undefined>(session.user);
  const [name, setName] = useState(session.user?.displayName ?? "");
  // An uploaded avatar's URL is the platform's own time-limited link: not shown for editing, and
  // never sent back (it must not replace the upload). A URL typed here goes only when edited.
  const [initialAvatar] = useState(session.user?.avatarThumbnailUri ? "" : (session.user?.avatarUri ?? ""));
  const [avatar, setAvatar] = useState(initialAvatar);
  const avatarChanged = avatar !== initialAvatar;
  const [problems, setProblems] = useState<Record<string, Problem>>({});
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState("");
  const [progress, setProgress] = useState<number>();
  const shown = useLoadableUrl(user?.avatarThumbnailUri || user?.avatarUri || "");

  function updated(u: User | undefined) {
    session.user = u;
    setUser(u);
    session.onChange();
  }

  async function save(e: FormEvent) {
    e.preventDefault();
    const found = { name: checkText(name, 100, true), avatar: avatarChanged ? checkUrl(avatar) : undefined };
    setProblems(found);
    if (Object.values(found).some(Boolean)) return;
    try {
      const paths = avatarChanged ? ["display_name", "avatar_uri"] : ["display_name"];
      const r = await users.updateUser({
        user: { name: "users/me", displayName: name.trim(), avatarUri: avatar },
        updateMask: create(FieldMaskSchema, { paths }),
      });
      updated(r.user);
      setNotice(t("form.saved"));
    } catch (err) {
      setError(err);
    }
  }

  async function upload(e: ChangeEvent<HTMLInputElement>) {
    const file = e.target.files?.[0];
    e.target.value = "";
    if (!file) return;
    const problem = checkAvatarFile(file.type, file.size);
    setProblems({ ...problems, file: problem });
    if (problem) return;
    setError(undefined);
    setNotice("");
    setProgress(0);
    try {
      const started = await users.createAvatarUpload({ parent: "users/me", contentType: file.type, sizeBytes: file.size });
      await putWithProgress(started.uploadUri, file, file.type, setProgress);
      const committed = await users.commitAvatar({ name: started.upload });
      updated(committed.user);
      setNotice(t("profile.uploaded"));
    } catch (err) {
      setError(err);
    } finally {
      setProgress(undefined);
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
      <div className="card form">
        {shown && <img className="avatar-img" src={shown} alt={t("profile.current")} width={64} height={64} data-testid="avatar" />}
        <p className="muted">{user?.email}</p>
        <div className="field">
          <label htmlFor="avatar-file">{t("profile.upload")}</label>
          <input id="avatar-file" type="file" accept="image/png,image/jpeg,image/webp" onChange={(e) => void upload(e)} aria-describedby={problems.file ? "avatar-file-err" : undefined} />
          {problems.file && (
            <p className="problem" id="avatar-file-err" role="alert">
              {t(problems.file.key)}
            </p>
          )}
          {progress !== undefined && (
            <progress max={1} value={progress} aria-label={t("profile.uploading")} data-testid="upload-progress">
              {Math.round(progress * 100)}%
            </progress>
          )}
        </div>
      </div>
      <form className="card form" onSubmit={save} noValidate>
        <Field label={t("auth.displayName")} name="displayName" value={name} maxLength={100} problem={problems.name} onChange={(e) => setName(e.target.value)} />
        <Field label={t("profile.avatar")} name="avatar" type="url" value={avatar} problem={problems.avatar} onChange={(e) => setAvatar(e.target.value)} />
        <button type="submit" className="primary">
          {t("form.save")}
        </button>
      </form>
    </Page>
  );
}
