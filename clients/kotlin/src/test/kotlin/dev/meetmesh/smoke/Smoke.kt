// The SDK smoke scenario (tests/sdks/conftest.py) with the JVM jar and grpc-kotlin coroutine
// stubs, over native gRPC: `java -cp ... dev.meetmesh.smoke.SmokeKt USER_ADDR MEETING_ADDR EMAIL
// PASSWORD` prints one JSON object.
package dev.meetmesh.smoke

import com.google.rpc.BadRequest
import com.google.rpc.ErrorInfo
import dev.meetmesh.meeting.v1.CreateMeetingRequest
import dev.meetmesh.meeting.v1.JoinMeetingRequest
import dev.meetmesh.meeting.v1.ListMeetingsRequest
import dev.meetmesh.meeting.v1.Meeting
import dev.meetmesh.meeting.v1.MeetingServiceGrpcKt.MeetingServiceCoroutineStub
import dev.meetmesh.user.v1.LoginRequest
import dev.meetmesh.user.v1.RegisterRequest
import dev.meetmesh.user.v1.UserServiceGrpcKt.UserServiceCoroutineStub
import io.grpc.ManagedChannel
import io.grpc.ManagedChannelBuilder
import io.grpc.Metadata
import io.grpc.StatusException
import io.grpc.protobuf.StatusProto
import kotlinx.coroutines.runBlocking
import java.util.concurrent.TimeUnit
import kotlin.system.exitProcess

fun channel(address: String): ManagedChannel = ManagedChannelBuilder.forTarget(address).usePlaintext().build()

fun json(value: Any?): String = when (value) {
    null -> "null"
    is String -> "\"" + value.replace("\\", "\\\\").replace("\"", "\\\"") + "\""
    is Number, is Boolean -> value.toString()
    is Map<*, *> -> value.entries.joinToString(",", "{", "}") { (k, v) -> json(k.toString()) + ":" + json(v) }
    is List<*> -> value.joinToString(",", "[", "]") { json(it) }
    else -> error("cannot encode $value")
}

fun main(args: Array<String>): Unit = runBlocking {
    if (args.size != 4) {
        System.err.println("usage: SmokeKt USER_ADDR MEETING_ADDR EMAIL PASSWORD")
        exitProcess(2)
    }
    val (userAddress, meetingAddress, email, password) = args
    val userChannel = channel(userAddress)
    val meetingChannel = channel(meetingAddress)
    val users = UserServiceCoroutineStub(userChannel).withDeadlineAfter(60, TimeUnit.SECONDS)
    val meetings = MeetingServiceCoroutineStub(meetingChannel).withDeadlineAfter(60, TimeUnit.SECONDS)
    val out = linkedMapOf<String, Any?>()

    val registered = users.register(
        RegisterRequest.newBuilder().setEmail(email).setPassword(password).setDisplayName("SDK smoke").build()
    )
    out["user"] = registered.user.name

    try {
        users.register(
            RegisterRequest.newBuilder().setEmail("not-an-email").setPassword("short").setDisplayName("x").build()
        )
        error("an invalid registration was accepted")
    } catch (e: StatusException) {
        val status = StatusProto.fromThrowable(e) ?: error("no google.rpc.Status in $e")
        val info = status.detailsList.first { it.`is`(ErrorInfo::class.java) }.unpack(ErrorInfo::class.java)
        val bad = status.detailsList.first { it.`is`(BadRequest::class.java) }.unpack(BadRequest::class.java)
        out["error"] = mapOf(
            "code" to e.status.code.value(),
            "reason" to info.reason,
            "domain" to info.domain,
            "violations" to bad.fieldViolationsList.map { it.field }.sorted(),
        )
    }

    val login = users.login(LoginRequest.newBuilder().setEmail(email).setPassword(password).build())
    val auth = Metadata().apply {
        put(Metadata.Key.of("authorization", Metadata.ASCII_STRING_MARSHALLER), "Bearer ${login.tokens.accessToken}")
    }

    val created = (0 until 3).map { i ->
        val request = CreateMeetingRequest.newBuilder()
            .setMeeting(Meeting.newBuilder().setTitle("kotlin smoke $i"))
            .build()
        meetings.createMeeting(request, auth).meeting.name
    }
    out["created"] = created

    val listed = mutableListOf<String>()
    var pages = 0
    var token = ""
    do {
        val page = meetings.listMeetings(ListMeetingsRequest.newBuilder().setPageSize(2).setPageToken(token).build(), auth)
        pages++
        listed += page.meetingsList.map { it.name }
        token = page.nextPageToken
    } while (token.isNotEmpty())
    out["listed"] = listed
    out["pages"] = pages

    val joined = meetings.joinMeeting(JoinMeetingRequest.newBuilder().setName(created[0]).build(), auth)
    out["joined"] = mapOf(
        "participant" to joined.participant.name,
        "state" to joined.participant.stateValue,
        "join_token" to joined.joinToken.isNotEmpty(),
    )

    println(json(out))
    userChannel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS)
    meetingChannel.shutdownNow().awaitTermination(5, TimeUnit.SECONDS)
    Unit
}
