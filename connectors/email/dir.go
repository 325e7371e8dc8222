package email

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// writeFiles writes each message to its own file in the mail directory, readable by the
// owner only (a Join or connect link in it is a credential). A message is written under
// a temporary name and renamed, so a reader never sees half of one, and a failure leaves
// nothing behind: the send certainly did not happen and is retried like a refused SMTP
// connection.
func (m *Mailer) writeFiles(msgs []*gomail.Msg) error {
	if err := os.MkdirAll(m.cfg.Dir, 0o700); err != nil {
		return &Error{Op: "create the mail directory", Err: err}
	}
	for _, gm := range msgs {
		if err := m.writeFile(gm); err != nil {
			return &Error{Op: "write to the mail directory", Err: err}
		}
	}
	return nil
}

func (m *Mailer) writeFile(gm *gomail.Msg) error {
	f, err := os.CreateTemp(m.cfg.Dir, ".writing-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = gm.WriteTo(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(m.cfg.Dir, fileName(gm)))
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// fileName sorts by time and says which message it is: 20260302T100500.123456789Z-<message id>.eml.
func fileName(gm *gomail.Msg) string {
	id := "message"
	if h := gm.GetGenHeader(gomail.HeaderMessageID); len(h) > 0 {
		id = strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '.', r == '_', r == '@':
				return r
			}
			return -1
		}, h[0])
	}
	return fmt.Sprintf("%s-%s.eml", time.Now().UTC().Format("20060102T150405.000000000Z"), id)
}
