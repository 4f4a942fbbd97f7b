package campaign

import (
	"time"

	"github.com/chatflow-dev/chatflow/api/v1alpha1"
	"github.com/chatflow-dev/chatflow/controllers/policy"
)

// calendar is when a campaign may start contacts: not before its start
// time, and not in its quiet hours.
type calendar struct {
	start      time.Time      // zero: no start time
	loc        *time.Location // of the quiet hours
	qFrom, qTo int            // minutes after midnight; qFrom == qTo: no quiet hours
}

// newCalendar reads a campaign's schedule. Admission refuses what it
// cannot read; an error here says what is wrong for the status.
func newCalendar(spec *v1alpha1.CampaignSpec) (calendar, error) {
	c := calendar{loc: time.UTC}
	if spec.StartTime != nil {
		c.start = spec.StartTime.Time
	}
	if spec.QuietHours == nil {
		return c, nil
	}
	q, err := policy.ParseQuietHours(spec.QuietHours)
	if err != nil {
		return c, err
	}
	c.qFrom, c.qTo, c.loc = q.From, q.To, q.Location
	return c, nil
}

// holdUntil says whether contacts may be started at now, and if not, why
// (ReasonScheduled or ReasonQuietHours) and until when.
func (c calendar) holdUntil(now time.Time) (reason string, until time.Time) {
	if !c.start.IsZero() && now.Before(c.start) {
		return v1alpha1.ReasonScheduled, c.start
	}
	if c.qFrom == c.qTo {
		return "", time.Time{}
	}
	t := now.In(c.loc)
	y, mo, d := t.Date()
	m := t.Hour()*60 + t.Minute()
	at := func(day, minutes int) time.Time {
		// time.Date normalizes a wall time that a DST change skips.
		return time.Date(y, mo, d+day, minutes/60, minutes%60, 0, 0, c.loc)
	}
	switch {
	case c.qFrom < c.qTo && m >= c.qFrom && m < c.qTo:
		return v1alpha1.ReasonQuietHours, at(0, c.qTo)
	case c.qFrom > c.qTo && m >= c.qFrom: // over midnight, before it
		return v1alpha1.ReasonQuietHours, at(1, c.qTo)
	case c.qFrom > c.qTo && m < c.qTo: // over midnight, after it
		return v1alpha1.ReasonQuietHours, at(0, c.qTo)
	}
	return "", time.Time{}
}
