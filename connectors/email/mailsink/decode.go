package mailsink

import (
	"bytes"
	"encoding/base64"
	"io"
	"mime/quotedprintable"
)

func decodeBase64(raw []byte) ([]byte, error) {
	clean := bytes.Map(func(r rune) rune {
		if r == '\r' || r == '\n' || r == ' ' {
			return -1
		}
		return r
	}, raw)
	return base64.StdEncoding.DecodeString(string(clean))
}

func newQP(r io.Reader) io.Reader { return quotedprintable.NewReader(r) }
