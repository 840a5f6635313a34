// The SDK smoke scenario (tests/sdks/conftest.py) with the @meetmesh/proto npm package and
// Connect's gRPC-web transport, through the edge:
//   node smoke.mjs EDGE_URL EMAIL PASSWORD
// prints one JSON object. It runs where the packed package is installed (tests/sdks/test_typescript.py).
import { Code, ConnectError, createClient } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-node";
import { BadRequestSchema, ErrorInfoSchema } from "@meetmesh/proto/google/rpc/error_details_pb";
import { MeetingService } from "@meetmesh/proto/meetmesh/meeting/v1/meeting_pb";
import { UserService } from "@meetmesh/proto/meetmesh/user/v1/user_pb";

const [baseUrl, email, password] = process.argv.slice(2);
const transport = createGrpcWebTransport({ baseUrl, httpVersion: "1.1" });
const users = createClient(UserService, transport);
const meetings = createClient(MeetingService, transport);
const out = {};

const registered = await users.register({ email, password, displayName: "SDK smoke" });
out.user = registered.user.name;

try {
  await users.register({ email: "not-an-email", password: "short", displayName: "x" });
  throw new Error("an invalid registration was accepted");
} catch (err) {
  const error = ConnectError.from(err);
  if (error.code !== Code.InvalidArgument) throw err;
  const [info] = error.findDetails(ErrorInfoSchema);
  const [bad] = error.findDetails(BadRequestSchema);
  out.error = {
    code: error.code,
    reason: info.reason,
    domain: info.domain,
    violations: bad.fieldViolations.map((v) => v.field).sort(),
  };
}

const login = await users.login({ email, password });
const headers = { authorization: `Bearer ${login.tokens.accessToken}` };

out.created = [];
for (let i = 0; i < 3; i++) {
  const reply = await meetings.createMeeting({ meeting: { title: `ts smoke ${i}` } }, { headers });
  out.created.push(reply.meeting.name);
}

out.listed = [];
out.pages = 0;
let pageToken = "";
do {
  const page = await meetings.listMeetings({ pageSize: 2, pageToken }, { headers });
  out.pages += 1;
  out.listed.push(...page.meetings.map((m) => m.name));
  pageToken = page.nextPageToken;
} while (pageToken);

const joined = await meetings.joinMeeting({ name: out.created[0] }, { headers });
out.joined = {
  participant: joined.participant.name,
  state: joined.participant.state,
  join_token: joined.joinToken.length > 0,
};

console.log(JSON.stringify(out));
