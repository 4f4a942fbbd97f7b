package campaign

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
)

func TestCalendarHolds(t *testing.T) {
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) time.Time {
		tm, err := time.ParseInLocation("2006-01-02 15:04", s, berlin)
		if err != nil {
			t.Fatal(err)
		}
		return tm
	}
	night := &v1alpha1.QuietHours{Start: "21:00", End: "08:00", TimeZone: "Europe/Berlin"}
	lunch := &v1alpha1.QuietHours{Start: "12:00", End: "13:30", TimeZone: "Europe/Berlin"}
	cases := []struct {
		name   string
		spec   v1alpha1.CampaignSpec
		now    time.Time
		reason string
		until  time.Time
	}{
		{"day time", v1alpha1.CampaignSpec{QuietHours: night}, at("2026-03-10 14:00"), "", time.Time{}},
		{"evening, over midnight", v1alpha1.CampaignSpec{QuietHours: night}, at("2026-03-10 22:15"), v1alpha1.ReasonQuietHours, at("2026-03-11 08:00")},
		{"after midnight", v1alpha1.CampaignSpec{QuietHours: night}, at("2026-03-11 03:00"), v1alpha1.ReasonQuietHours, at("2026-03-11 08:00")},
		{"the end is allowed", v1alpha1.CampaignSpec{QuietHours: night}, at("2026-03-11 08:00"), "", time.Time{}},
		{"the start is quiet", v1alpha1.CampaignSpec{QuietHours: night}, at("2026-03-10 21:00"), v1alpha1.ReasonQuietHours, at("2026-03-11 08:00")},
		{"within a day", v1alpha1.CampaignSpec{QuietHours: lunch}, at("2026-03-10 12:40"), v1alpha1.ReasonQuietHours, at("2026-03-10 13:30")},
		// 29 March 2026: Berlin skips from 02:00 to 03:00; the window still ends at 08:00 local.
		{"a DST night", v1alpha1.CampaignSpec{QuietHours: night}, at("2026-03-28 23:00"), v1alpha1.ReasonQuietHours, at("2026-03-29 08:00")},
		{"a time zone elsewhere", v1alpha1.CampaignSpec{QuietHours: night}, time.Date(2026, 3, 10, 21, 30, 0, 0, time.UTC), v1alpha1.ReasonQuietHours, at("2026-03-11 08:00")},
		{"before the start time", v1alpha1.CampaignSpec{StartTime: &metav1.Time{Time: at("2026-03-12 09:00")}, QuietHours: night},
			at("2026-03-10 14:00"), v1alpha1.ReasonScheduled, at("2026-03-12 09:00")},
		{"after the start time", v1alpha1.CampaignSpec{StartTime: &metav1.Time{Time: at("2026-03-12 09:00")}},
			at("2026-03-12 09:00"), "", time.Time{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cal, err := newCalendar(&tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			reason, until := cal.holdUntil(tc.now)
			if reason != tc.reason || !until.Equal(tc.until) {
				t.Errorf("holdUntil(%s) = %q until %s, want %q until %s", tc.now, reason, until, tc.reason, tc.until)
			}
		})
	}
	if _, err := newCalendar(&v1alpha1.CampaignSpec{QuietHours: &v1alpha1.QuietHours{Start: "21:00", End: "08:00", TimeZone: "Mars/Olympus"}}); err == nil {
		t.Error("an unknown time zone: no error")
	}
}

// TestBucketPaces: the bucket never grants more than the rate over a
// window plus its capacity, and grants in batches rather than one by one.
func TestBucketPaces(t *testing.T) {
	b := newBucket(2000)
	ctx := context.Background()
	start := time.Now()
	granted, takes := 0, 0
	for time.Since(start) < 300*time.Millisecond {
		n, err := b.take(ctx, 1000)
		if err != nil {
			t.Fatal(err)
		}
		granted += n
		takes++
	}
	elapsed := time.Since(start).Seconds()
	if limit := int(2000*elapsed) + 200; granted > limit {
		t.Errorf("%d tokens in %.3fs at 2000/s (limit %d)", granted, elapsed, limit)
	}
	if takes > 0 && granted/takes < 50 {
		t.Errorf("%d tokens in %d takes: batches of %d, want at least 50", granted, takes, granted/takes)
	}
	b.refund(1000)
	if b.tokens > b.capacity {
		t.Errorf("a refund filled the bucket past its capacity: %v", b.tokens)
	}
}
