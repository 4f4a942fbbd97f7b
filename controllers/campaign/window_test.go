package campaign

import (
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
