package actors_test

import (
	"errors"
	"testing"

	dw "github.com/divinewhispers/dw"
	"github.com/divinewhispers/dw/actors"
	"github.com/divinewhispers/dw/protos/failurepb"
	"github.com/divinewhispers/dw/protos/walletpb"
	"google.golang.org/protobuf/proto"
)

// A failure crosses the cluster as data and reads back as the same kind, code and message.
func TestFailureRoundTrip(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		err  error
		want *dw.Error // nil: no failure
	}{
		{"none", nil, nil},
		{"coded", dw.Coded(dw.KindNotFound, dw.CodeHoldNotActive, "hold h1 is not active"),
			&dw.Error{Kind: dw.KindNotFound, Code: dw.CodeHoldNotActive, Message: "hold h1 is not active"}},
		{"kind only", dw.Errorf(dw.KindPaymentRequired, "no points"), &dw.Error{Kind: dw.KindPaymentRequired, Code: "payment_required", Message: "no points"}},
		{"plain error stays here", errors.New("disk on fire"), &dw.Error{Kind: dw.KindInternal, Code: "internal", Message: "internal error"}},
	} {
		b, err := proto.Marshal(&walletpb.Response{Code: walletpb.Code_CODE_NOT_FOUND, Failure: actors.FailureOf(c.err)})
		if err != nil {
			t.Fatal(err)
		}
		var wire walletpb.Response
		if err := proto.Unmarshal(b, &wire); err != nil {
			t.Fatal(err)
		}
		got := actors.FailureError(wire.Failure)
		if c.want == nil {
			if got != nil {
				t.Errorf("%s: %v, want none", c.name, got)
			}
			continue
		}
		var e *dw.Error
		if !errors.As(got, &e) || e.Kind != c.want.Kind || e.Code != c.want.Code || e.Message != c.want.Message {
			t.Errorf("%s: %#v, want %#v", c.name, got, c.want)
		}
	}
	if got := dw.KindOf(actors.FailureError(&failurepb.Failure{Kind: "from_the_future", Code: "x"})); got != dw.KindInternal {
		t.Errorf("unknown kind read as %s, want internal", got)
	}
}
