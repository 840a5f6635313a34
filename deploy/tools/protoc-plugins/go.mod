// The protoc plugins of the Go SDK flavour (`make gen-go`, docs/sdk.md), pinned as Go tools:
// `go install tool` builds them from the module proxy (or the module cache) at exactly these versions.
module meetmesh.local/tools

go 1.26

tool (
	google.golang.org/grpc/cmd/protoc-gen-go-grpc
	google.golang.org/protobuf/cmd/protoc-gen-go
)

require (
	google.golang.org/grpc/cmd/protoc-gen-go-grpc v1.6.1 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
)
