// The SDK smoke scenario (tests/sdks/conftest.py) with the Go module, over native gRPC:
//
//	go run . USER_ADDR MEETING_ADDR EMAIL PASSWORD
//
// prints one JSON object.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"time"

	meetingv1 "github.com/meetmesh/meetmesh/clients/go/meetmesh/meeting/v1"
	userv1 "github.com/meetmesh/meetmesh/clients/go/meetmesh/user/v1"
	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func dial(address string) *grpc.ClientConn {
	conn, err := grpc.NewClient(address, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		fail(err)
	}
	return conn
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, err)
	os.Exit(1)
}

func main() {
	if len(os.Args) != 5 {
		fail(fmt.Errorf("usage: smoke USER_ADDR MEETING_ADDR EMAIL PASSWORD"))
	}
	email, password := os.Args[3], os.Args[4]
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	userConn, meetingConn := dial(os.Args[1]), dial(os.Args[2])
	defer userConn.Close()
	defer meetingConn.Close()
	users := userv1.NewUserServiceClient(userConn)
	meetings := meetingv1.NewMeetingServiceClient(meetingConn)
	out := map[string]any{}

	registered, err := users.Register(ctx, &userv1.RegisterRequest{Email: email, Password: password, DisplayName: "SDK smoke"})
	if err != nil {
		fail(err)
	}
	out["user"] = registered.GetUser().GetName()

	_, err = users.Register(ctx, &userv1.RegisterRequest{Email: "not-an-email", Password: "short", DisplayName: "x"})
	st, ok := status.FromError(err)
	if err == nil || !ok {
		fail(fmt.Errorf("an invalid registration was not refused with a status: %v", err))
	}
	decoded := map[string]any{"code": int(st.Code()), "violations": []string{}}
	for _, detail := range st.Details() {
		switch d := detail.(type) {
		case *errdetails.ErrorInfo:
			decoded["reason"], decoded["domain"] = d.GetReason(), d.GetDomain()
		case *errdetails.BadRequest:
			fields := []string{}
			for _, v := range d.GetFieldViolations() {
				fields = append(fields, v.GetField())
			}
			sort.Strings(fields)
			decoded["violations"] = fields
		}
	}
	out["error"] = decoded

	login, err := users.Login(ctx, &userv1.LoginRequest{Email: email, Password: password})
	if err != nil {
		fail(err)
	}
	authed := metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+login.GetTokens().GetAccessToken())

	created := []string{}
	for i := range 3 {
		reply, err := meetings.CreateMeeting(authed, &meetingv1.CreateMeetingRequest{
			Meeting: &meetingv1.Meeting{Title: fmt.Sprintf("go smoke %d", i)},
		})
		if err != nil {
			fail(err)
		}
		created = append(created, reply.GetMeeting().GetName())
	}
	out["created"] = created

	listed, pages, token := []string{}, 0, ""
	for {
		page, err := meetings.ListMeetings(authed, &meetingv1.ListMeetingsRequest{PageSize: 2, PageToken: token})
		if err != nil {
			fail(err)
		}
		pages++
		for _, m := range page.GetMeetings() {
			listed = append(listed, m.GetName())
		}
		token = page.GetNextPageToken()
		if token == "" {
			break
		}
	}
	out["listed"], out["pages"] = listed, pages

	joined, err := meetings.JoinMeeting(authed, &meetingv1.JoinMeetingRequest{Name: created[0]})
	if err != nil {
		fail(err)
	}
	out["joined"] = map[string]any{
		"participant": joined.GetParticipant().GetName(),
		"state":       int(joined.GetParticipant().GetState()),
		"join_token":  joined.GetJoinToken() != "",
	}

	if err := json.NewEncoder(os.Stdout).Encode(out); err != nil {
		fail(err)
	}
}
