package channel

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
)

// SignHMACSHA256 is HMAC-SHA256(key, body) in lowercase hex: the digest
// Meta's and Viber's webhook signatures carry (Meta behind "sha256=").
func SignHMACSHA256(body []byte, key string) string {
	return hex.EncodeToString(macSHA256(body, key))
}

// VerifyHMACSHA256 reports whether hexSig is a well-formed hex digest (64
// hex digits) and whether it is HMAC-SHA256(key, body), body being the raw
// request bytes. The comparison is constant-time on the decoded digest.
func VerifyHMACSHA256(hexSig string, body []byte, key string) (wellFormed, valid bool) {
	if len(hexSig) != 2*sha256.Size {
		return false, false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false, false
	}
	return true, hmac.Equal(got, macSHA256(body, key))
}

func macSHA256(body []byte, key string) []byte {
	m := hmac.New(sha256.New, []byte(key))
	m.Write(body)
	return m.Sum(nil)
}
