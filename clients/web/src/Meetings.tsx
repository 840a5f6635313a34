// The meetings list (upcoming and past, paginated) and the create / edit / invite form.
import { create } from "@bufbuild/protobuf";
import { FieldMaskSchema, timestampDate, timestampFromDate } from "@bufbuild/protobuf/wkt";
import { Meeting_State, MeetingSchema, type Invitation, type Meeting } from "@gen/meetmesh/meeting/v1/meeting_pb";
import { useEffect, useState, type FormEvent } from "react";
import { meetings, session } from "./api";
import { useI18n } from "./i18n";
import { joinLink, meetingId, navigate } from "./router";
import { Check, ErrorBanner, Field, Page } from "./ui";
import { checkEmail, checkMeeting, toLocalInput, type Problem } from "./validation";

/** Past: ended, or scheduled to end before now. */
export function isPast(m: Pick<Meeting, "state" | "endTime">, now = Date.now()): boolean {
  if (m.state === Meeting_State.ENDED) return true;
  return m.endTime ? timestampDate(m.endTime).getTime() < now : false;
}

const PAGE = 20;

export function Meetings() {
  const { t, lang } = useI18n();
  const [items, setItems] = useState<Meeting[]>([]);
  const [token, setToken] = useState("");
  const [done, setDone] = useState(false);
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState("");

  async function load(pageToken: string) {
    try {
      const reply = await meetings.listMeetings({ pageSize: PAGE, pageToken });
      setItems((old) => (pageToken ? [...old, ...reply.meetings] : reply.meetings));
      setToken(reply.nextPageToken);
      setDone(true);
    } catch (err) {
      setError(err);
    }
  }
  useEffect(() => void load(""), []);

  const upcoming = items.filter((m) => !isPast(m));
  const past = items.filter((m) => isPast(m));
  const fmt = new Intl.DateTimeFormat(lang === "zh" ? "zh-CN" : "en", { dateStyle: "medium", timeStyle: "short" });

  const row = (m: Meeting) => {
    const id = meetingId(m.name);
    return (
      <li key={m.name} className="card meeting" data-testid="meeting">
        <div>
          <h3>{m.title}</h3>
          <p className="muted">
            {t(`meetings.state.${m.state}`)}
            {m.startTime && ` · ${fmt.format(timestampDate(m.startTime))}`}
            {m.state === Meeting_State.ACTIVE && ` · ${t("meetings.people", { n: m.participantCount })}`}
            {m.host === session.user?.name && ` · ${t("meetings.host")}`}
          </p>
        </div>
        <div className="actions">
          {m.state !== Meeting_State.ENDED && (
            <a className="button primary" href={`/m/${id}`} onClick={(e) => (e.preventDefault(), navigate(`/m/${id}`))}>
              {t("meetings.join")}
            </a>
          )}
          {m.host === session.user?.name && m.state !== Meeting_State.ENDED && (
            <a className="button" href={`/m/${id}/edit`} onClick={(e) => (e.preventDefault(), navigate(`/m/${id}/edit`))}>
              {t("meetings.edit")}
            </a>
          )}
          <button
            type="button"
            onClick={() =>
              void navigator.clipboard
                .writeText(joinLink(location.origin, m.name))
                .then(() => setNotice(t("meetings.copied")), () => setNotice(joinLink(location.origin, m.name)))
            }
          >
            {t("meetings.copy")}
          </button>
          <a className="button" href={`/m/${id}/summary`} onClick={(e) => (e.preventDefault(), navigate(`/m/${id}/summary`))}>
            {t("meetings.summary")}
          </a>
        </div>
      </li>
    );
  };

  return (
    <Page title={t("meetings.title")}>
      <ErrorBanner error={error} onDismiss={() => setError(undefined)} />
      {notice && (
        <p className="banner info" role="status">
          {notice}
        </p>
      )}
      <p>
        <a className="button primary" href="/new" onClick={(e) => (e.preventDefault(), navigate("/new"))}>
          {t("nav.new")}
        </a>
      </p>
      <section aria-labelledby="upcoming">
        <h2 id="upcoming">{t("meetings.upcoming")}</h2>
        {done && !upcoming.length && <p className="muted">{t("meetings.none")}</p>}
        <ul className="list">{upcoming.map(row)}</ul>
      </section>
      <section aria-labelledby="past">
        <h2 id="past">{t("meetings.past")}</h2>
        {done && !past.length && <p className="muted">{t("meetings.none")}</p>}
        <ul className="list">{past.map(row)}</ul>
      </section>
      {token && (
        <button type="button" onClick={() => void load(token)}>
          {t("meetings.more")}
        </button>
      )}
    </Page>
  );
}

interface FormState {
  title: string;
  description: string;
  start: string;
  end: string;
  passcode: string;
  capacity: string;
  lobby: boolean;
  ai: boolean;
  liveEmotions: boolean;
  recording: boolean;
}

const EMPTY: FormState = { title: "", description: "", start: "", end: "", passcode: "", capacity: "0", lobby: false, ai: false, liveEmotions: false, recording: true };

/** The proto meeting for a form, and the update mask of what an edit changes. */
export function meetingFromForm(f: FormState, name = "") {
  const meeting = create(MeetingSchema, {
    name,
    title: f.title.trim(),
    description: f.description,
    startTime: f.start ? timestampFromDate(new Date(f.start)) : undefined,
    endTime: f.end ? timestampFromDate(new Date(f.end)) : undefined,
    passcode: f.passcode,
    lobbyEnabled: f.lobby,
    capacity: Number(f.capacity),
    settings: { recordingAllowed: f.recording, aiEnabled: f.ai, liveEmotions: f.ai && f.liveEmotions },
  });
  const paths = ["title", "description", "start_time", "end_time", "lobby_enabled", "capacity", "settings"];
  if (f.passcode) paths.push("passcode");
  return { meeting, mask: create(FieldMaskSchema, { paths }) };
}

export function MeetingEditor({ id }: { id?: string }) {
  const { t } = useI18n();
  const [form, setForm] = useState<FormState>(EMPTY);
  const [problems, setProblems] = useState<Record<string, Problem>>({});
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState("");
  const [email, setEmail] = useState("");
  const [emailProblem, setEmailProblem] = useState<Problem>();
  const [invitations, setInvitations] = useState<Invitation[]>([]);
  const [busy, setBusy] = useState(false);
  const [requestId] = useState(() => crypto.randomUUID());
  const name = id ? `meetings/${id}` : "";

  useEffect(() => {
    if (!id) return;
    meetings
      .getMeeting({ name })
      .then(({ meeting: m }) => {
        if (!m) return;
        setForm({
          title: m.title,
          description: m.description,
          start: m.startTime ? toLocalInput(timestampDate(m.startTime)) : "",
          end: m.endTime ? toLocalInput(timestampDate(m.endTime)) : "",
          passcode: "",
          capacity: String(m.capacity),
          lobby: m.lobbyEnabled,
          ai: m.settings?.aiEnabled ?? false,
          liveEmotions: m.settings?.liveEmotions ?? false,
          recording: m.settings?.recordingAllowed ?? false,
        });
      })
      .catch(setError);
    meetings
      .listInvitations({ parent: name, pageSize: 100 })
      .then((r) => setInvitations(r.invitations))
      .catch(() => undefined);
  }, [id, name]);

  const set = (k: keyof FormState) => (e: { target: { value: string } }) => setForm({ ...form, [k]: e.target.value });

  async function save(e: FormEvent) {
    e.preventDefault();
    const found = checkMeeting(form);
    setProblems(found);
    if (Object.keys(found).length) return;
    setBusy(true);
    setError(undefined);
    try {
      const { meeting, mask } = meetingFromForm(form, name);
      if (id) {
        await meetings.updateMeeting({ meeting, updateMask: mask });
        setNotice(t("form.saved"));
      } else {
        const reply = await meetings.createMeeting({ meeting, requestId });
        navigate(`/m/${meetingId(reply.meeting?.name ?? "")}/edit`, true);
        setNotice(t("form.saved"));
      }
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  async function invite(e: FormEvent) {
    e.preventDefault();
    const problem = checkEmail(email);
    setEmailProblem(problem);
    if (problem) return;
    try {
      const reply = await meetings.createInvitation({ parent: name, invitation: { email } });
      if (reply.invitation) setInvitations((old) => [...old.filter((i) => i.email !== email), reply.invitation!]);
      setNotice(t("form.invited", { email }));
      setEmail("");
    } catch (err) {
      setError(err);
    }
  }

  return (
    <Page title={t(id ? "form.edit" : "form.create")}>
      <ErrorBanner error={error} onDismiss={() => setError(undefined)} />
      {notice && (
        <p className="banner info" role="status">
          {notice}
        </p>
      )}
      <form className="card form" onSubmit={save} noValidate>
        <Field label={t("form.title")} name="title" value={form.title} maxLength={200} problem={problems.title} onChange={set("title")} />
        <div className="field">
          <label htmlFor="description">{t("form.description")}</label>
          <textarea id="description" name="description" rows={3} maxLength={5000} value={form.description} onChange={set("description")} />
        </div>
        <div className="row">
          <Field label={t("form.start")} name="start" type="datetime-local" value={form.start} onChange={set("start")} />
          <Field label={t("form.end")} name="end" type="datetime-local" value={form.end} problem={problems.end} onChange={set("end")} />
        </div>
        <div className="row">
          <Field
            label={t(id ? "form.passcodeKeep" : "form.passcode")}
            name="passcode"
            type="password"
            autoComplete="new-password"
            value={form.passcode}
            problem={problems.passcode}
            onChange={set("passcode")}
          />
          <Field label={t("form.capacity")} name="capacity" type="number" min={0} max={1000} value={form.capacity} problem={problems.capacity} onChange={set("capacity")} />
        </div>
        <Check name="lobby" label={t("form.lobby")} checked={form.lobby} onChange={(v) => setForm({ ...form, lobby: v })} />
        <Check name="ai" label={t("form.ai")} checked={form.ai} onChange={(v) => setForm({ ...form, ai: v })} />
        {form.ai && (
          <Check name="liveEmotions" label={t("form.liveEmotions")} checked={form.liveEmotions} onChange={(v) => setForm({ ...form, liveEmotions: v })} />
        )}
        <Check name="recording" label={t("form.recording")} checked={form.recording} onChange={(v) => setForm({ ...form, recording: v })} />
        <div className="actions">
          <button type="submit" className="primary" disabled={busy}>
            {t("form.save")}
          </button>
          {id && (
            <>
              <a className="button" href={`/m/${id}`} onClick={(e) => (e.preventDefault(), navigate(`/m/${id}`))}>
                {t("meetings.join")}
              </a>
              <button type="button" onClick={() => void navigator.clipboard.writeText(joinLink(location.origin, name)).then(() => setNotice(t("meetings.copied")), () => setNotice(joinLink(location.origin, name)))}>
                {t("meetings.copy")}
              </button>
            </>
          )}
        </div>
      </form>
      {id && (
        <section aria-labelledby="invite" className="card">
          <h2 id="invite">{t("form.invite")}</h2>
          <form onSubmit={invite} noValidate className="row end">
            <Field label={t("auth.email")} type="email" name="inviteEmail" value={email} problem={emailProblem} onChange={(e) => setEmail(e.target.value)} />
            <button type="submit">{t("form.inviteSend")}</button>
          </form>
          {invitations.length > 0 && (
            <>
              <h3>{t("form.invitations")}</h3>
              <ul>
                {invitations.map((i) => (
                  <li key={i.name}>{i.email}</li>
                ))}
              </ul>
            </>
          )}
        </section>
      )}
    </Page>
  );
}
