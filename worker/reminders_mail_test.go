package worker_test

import (
	"strings"
	"testing"
	"time"

	"tether/sync/directory"
	"tether/sync/store"
	"tether/sync/store/storetest"
)

// A rep whose only missing requirement is a photo gets a reminder that asks for the photo,
// not one that asks to reconnect accounts or speaks of links it does not carry; with a
// connection broken as well, the usual wording and its links come back.
func TestReminderForAPhotoAloneCarriesNoReconnectWording(t *testing.T) {
	photo := directory.ActionReason{Requirement: directory.RequirementPhoto, State: "missing", Actor: directory.ActorRep,
		Message: "add a profile photo"}
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		b := setupReminders(t, st, nil)
		t0 := b.clock.now()
		b.reasons(t, photo)
		b.clock.set(t0.Add(5 * time.Minute))
		if res := b.notify(t, t0); len(res.Sent) != 1 {
			t.Fatalf("photo reminder: %+v", res)
		}
		msgs := b.sink.Messages()
		if len(msgs) != 1 {
			t.Fatalf("%d emails, want 1", len(msgs))
		}
		m := msgs[0]
		for _, body := range []string{m.Subject, m.Text, m.HTML} {
			if strings.Contains(body, "reconnect") || strings.Contains(body, "Each link") {
				t.Fatalf("a photo-only reminder speaks of reconnecting or links:\n%s\n%s", m.Subject, m.Text)
			}
		}
		if !strings.Contains(m.Subject, "finish your profile") || !strings.Contains(m.Text, "Add it in your profile") ||
			!strings.Contains(m.HTML, "Add it in your profile") || connectLink.MatchString(m.Text) {
			t.Fatalf("photo-only reminder:\n%s\n%s\n%s", m.Subject, m.Text, m.HTML)
		}

		b.reasons(t, photo, calBroken)
		b.clock.set(t0.Add(5*time.Minute + 24*time.Hour))
		if res := b.notify(t, t0); len(res.Sent) != 1 {
			t.Fatalf("second reminder: %+v", res)
		}
		m = b.sink.Messages()[1]
		if !strings.Contains(m.Subject, "reconnect your accounts") || !strings.Contains(m.Text, "Each link works once") ||
			!connectLink.MatchString(m.Text) {
			t.Fatalf("reminder with a broken calendar:\n%s\n%s", m.Subject, m.Text)
		}
	})
}
