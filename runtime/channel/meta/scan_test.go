package meta

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// slowScan is what scanEnvelope must match: DecodeEnvelope, and each
// change value decoded by phoneNumberID.
func slowScan(body []byte) (string, []scannedEntry, error) {
	env, err := DecodeEnvelope(body)
	if err != nil {
		return "", nil, err
	}
	var entries []scannedEntry
	for _, e := range env.Entry {
		se := scannedEntry{id: string(e.ID), messaging: len(e.Messaging)}
		for _, c := range e.Changes {
			se.phones = append(se.phones, phoneNumberID(c.Value))
		}
		entries = append(entries, se)
	}
	return env.Object, entries, nil
}

func TestScanEnvelopeReadsTheFixtures(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, f := range files {
		body, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		obj, entries, ok := scanEnvelope(body)
		wantObj, want, err := slowScan(body)
		if err != nil {
			continue // not a webhook (an error response)
		}
		if !ok || obj != wantObj || !reflect.DeepEqual(entries, want) {
			t.Errorf("%s: fast path %v %q %+v; slow %q %+v", f, ok, obj, entries, wantObj, want)
		}
	}
}

func TestScanEnvelopeGivesUpOnWhatItCannotReadAlike(t *testing.T) {
	for _, body := range []string{
		`{"object":"page","Entry":[]}`,            // another case
		`{"object":"page","entry":[],"entry":[]}`, // a repeated key
		`{"obj\u0065ct":"page","entry":[]}`,       // an escaped key
		`{"object":"p\u0061ge","entry":[]}`,       // an escaped value
		`{"object":"page","entry":[null]}`,        // a null entry
		`{"object":"page","entry":[{"id":true}]}`, // malformed
		`{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"METADATA":{}}}]}]}`,
		`[]`, `{"object":`,
	} {
		if _, _, ok := scanEnvelope([]byte(body)); ok {
			t.Errorf("scanEnvelope(%s) took the fast path", body)
		}
	}
}

// FuzzScanEnvelope: whenever the fast path reads a body, it reads what
// DecodeEnvelope and phoneNumberID read.
func FuzzScanEnvelope(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(`{"object":"whatsapp_business_account","entry":[{"id":12,"time":"x","changes":[{"field":"messages","value":{"metadata":{"phone_number_id":1e3}}},{"field":"m","value":{"metadata":null}},{"field":"m","value":{"metadata":{"phone_number_id":true}}},{"field":"m","value":[1]}],"messaging":[null,{}]}]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		obj, entries, ok := scanEnvelope(body)
		if !ok {
			return
		}
		wantObj, want, err := slowScan(body)
		if err != nil {
			t.Fatalf("the fast path read a body DecodeEnvelope refuses (%v): %s", err, body)
		}
		if obj != wantObj || !reflect.DeepEqual(entries, want) {
			t.Fatalf("fast %q %+v; slow %q %+v\n%s", obj, entries, wantObj, want, body)
		}
	})
}
