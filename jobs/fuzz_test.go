package jobs

import (
	"errors"
	"reflect"
	"testing"
)

// fuzzDecode checks a payload decoder: it never panics, every refusal wraps
// ErrInvalidPayload (so the worker archives it instead of retrying), and every
// payload it accepts survives the producer's encode and decodes back equal.
func fuzzDecode[P Payload](f *testing.F, seeds ...string) {
	for _, s := range append(seeds, `{}`, `[]`, `null`, `{"org_id":1}`, "\xff\xfe") {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Decode[P](data)
		if err != nil {
			if !errors.Is(err, ErrInvalidPayload) {
				t.Fatalf("error %v does not wrap ErrInvalidPayload", err)
			}
			return
		}
		b, err := encode(p)
		if err != nil {
			t.Fatalf("accepted %+v, but the producer refuses it: %v", p, err)
		}
		again, err := Decode[P](b)
		if err != nil || !reflect.DeepEqual(again, p) {
			t.Fatalf("round trip of %+v gave %+v, %v", p, again, err)
		}
	})
}

func FuzzDecodeInvitesImport(f *testing.F) {
	fuzzDecode[InvitesImport](f, `{"org_id":"o1","import_id":"i1"}`, `{"org_id":"o1"}`)
}

func FuzzDecodeInvitesSend(f *testing.F) {
	fuzzDecode[InvitesSend](f, `{"org_id":"o1","invite_id":"v1","attempt":1}`, `{"org_id":"o1","invite_id":"v1","attempt":0}`,
		`{"org_id":"o1","invite_id":"v1","attempt":1e400}`)
}

func FuzzDecodeAuditPermissions(f *testing.F) {
	fuzzDecode[AuditPermissions](f, `{"org_id":"o1"}`, `{"org_id":"o1","day":"20261122"}`, `{"org_id":"o1","day":"2026-11-22"}`)
}

func FuzzDecodeAuditPermissionsSweep(f *testing.F) {
	fuzzDecode[AuditPermissionsSweep](f, `{"slot":"20261122T044100Z"}`, `{"slot":"x"}`)
}

func FuzzDecodeInvitesExpire(f *testing.F) {
	fuzzDecode[InvitesExpire](f, `{"slot":"20261122T040700Z"}`, `{"slot":"x"}`)
}

func FuzzDecodeReconcile(f *testing.F) {
	fuzzDecode[Reconcile](f, `{"slot":"20260102T031700Z"}`, `{"slot":"2026-01-02"}`)
}

func FuzzDecodeRemindersNotify(f *testing.F) {
	fuzzDecode[RemindersNotify](f, `{"org_id":"o1","membership_id":"m1","noticed":1700000000,"breaks":3}`, `{"org_id":"o1","membership_id":"m1","sequence":2}`,
		`{"org_id":"o1","membership_id":"m1","sequence":2,"at":1700000300}`)
}

func FuzzDecodeRemindersDigest(f *testing.F) {
	fuzzDecode[RemindersDigest](f, `{"org_id":"o1","day":"20260302"}`, `{"org_id":"o1","day":"2026-03-02"}`)
}
