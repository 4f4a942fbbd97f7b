package store

import (
	"context"
	"fmt"
	"strconv"
	"time"
)

// CampaignState is where a contact of a campaign stands in the ledger of
// the flow's store. States only move forward: None < Accepted < Started <
// Done | Failed, and the first final state wins.
type CampaignState uint8

// The states of a campaign's contact.
const (
	// CampaignNone: the ledger does not know the contact.
	CampaignNone CampaignState = iota
	// CampaignAccepted: its run is queued (the run API accepted it).
	CampaignAccepted
	// CampaignStarted: a worker started its run.
	CampaignStarted
	// CampaignDone: its run reached an End node.
	CampaignDone
	// CampaignFailed: its run ended with an error, or was dropped.
	CampaignFailed
)

// CampaignCounts are the contacts of a campaign that reached each state;
// Accepted counts every contact accepted (those started and ended too),
// Started every contact started.
type CampaignCounts struct {
	Accepted, Started, Done, Failed int64
}

// CampaignTTL is how long a campaign's ledger is kept after its last
// change. The ledger is what keeps a contact from being started twice by
// the same campaign, beyond the 7 days of item deduplication.
const CampaignTTL = 30 * 24 * time.Hour

// Campaigns is the ledger of the campaigns that start runs of a flow: per
// campaign, the state of each contact and the count of contacts per state,
// kept by the executors of the flow (whichever replica) for the operator
// to read. Both stores implement it.
//
// On Redis, a campaign's ledger is two hashes in the flow's slot (its hash
// tag, like every key of the flow), updated by one script
// (lua/campaign.lua) and expiring CampaignTTL after the last change:
//
//	chatflow:{<ns>}:campaign:<id>:contacts  hash of the contact -> state
//	chatflow:{<ns>}:campaign:<id>:counts    state -> contacts at it
type Campaigns interface {
	// CampaignStates returns the state of each contact.
	CampaignStates(ctx context.Context, campaign string, contacts ...string) ([]CampaignState, error)
	// CampaignMark moves contacts forward to st (a contact at st or beyond
	// stays where it is) and returns the state of each before.
	CampaignMark(ctx context.Context, campaign string, st CampaignState, contacts ...string) ([]CampaignState, error)
	// CampaignCounts returns the counts of a campaign.
	CampaignCounts(ctx context.Context, campaign string) (CampaignCounts, error)
}

func (st CampaignState) rank() CampaignState { return min(st, CampaignDone) }

func checkCampaign(campaign string, st CampaignState) error {
	if campaign == "" {
		return fmt.Errorf("store: empty campaign")
	}
	if st > CampaignFailed {
		return fmt.Errorf("store: campaign state %d", st)
	}
	return nil
}

// countsOf turns counts per exact state into cumulative counts.
func countsOf(at [5]int64) CampaignCounts {
	return CampaignCounts{
		Accepted: at[CampaignAccepted] + at[CampaignStarted] + at[CampaignDone] + at[CampaignFailed],
		Started:  at[CampaignStarted] + at[CampaignDone] + at[CampaignFailed],
		Done:     at[CampaignDone],
		Failed:   at[CampaignFailed],
	}
}

// The memory store's ledger.

type memCampaign struct {
	states map[string]CampaignState // by ledgerField
	at     [5]int64
}

func (m *memory) campaign(id string, create bool) *memCampaign {
	if m.campaigns == nil {
		m.campaigns = map[string]*memCampaign{}
		m.ledgerSeal = newSealer(m.opts.Namespace, m.opts.ItemKey)
	}
	c := m.campaigns[id]
	if c == nil && create {
		c = &memCampaign{states: map[string]CampaignState{}}
		m.campaigns[id] = c
	}
	return c
}

func (m *memory) CampaignStates(_ context.Context, campaign string, contacts ...string) ([]CampaignState, error) {
	if err := checkCampaign(campaign, 0); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	out := make([]CampaignState, len(contacts))
	if c := m.campaign(campaign, false); c != nil {
		for i, ct := range contacts {
			out[i] = c.states[m.ledgerSeal.ledgerField(campaign, ct)]
		}
	}
	return out, nil
}

func (m *memory) CampaignMark(_ context.Context, campaign string, st CampaignState, contacts ...string) ([]CampaignState, error) {
	if err := checkCampaign(campaign, st); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	c := m.campaign(campaign, true)
	out := make([]CampaignState, len(contacts))
	for i, ct := range contacts {
		f := m.ledgerSeal.ledgerField(campaign, ct)
		old := c.states[f]
		out[i] = old
		if st.rank() > old.rank() {
			c.states[f] = st
			c.at[old]--
			c.at[st]++
		}
	}
	c.at[CampaignNone] = 0
	return out, nil
}

func (m *memory) CampaignCounts(_ context.Context, campaign string) (CampaignCounts, error) {
	if err := checkCampaign(campaign, 0); err != nil {
		return CampaignCounts{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return CampaignCounts{}, ErrClosed
	}
	c := m.campaign(campaign, false)
	if c == nil {
		return CampaignCounts{}, nil
	}
	return countsOf(c.at), nil
}

// The redis store's ledger.

func (s *redisStore) campaignKeys(campaign string) []string {
	contacts, counts := s.keys.campaign(campaign)
	return []string{contacts, counts}
}

// ledgerFields names contacts as the ledger does (sealer.ledgerField).
func (s *redisStore) ledgerFields(campaign string, contacts []string) []string {
	out := make([]string, len(contacts))
	for i, c := range contacts {
		out[i] = s.seal.ledgerField(campaign, c)
	}
	return out
}

func (s *redisStore) CampaignStates(ctx context.Context, campaign string, contacts ...string) ([]CampaignState, error) {
	if err := checkCampaign(campaign, 0); err != nil {
		return nil, err
	}
	if s.closed() {
		return nil, ErrClosed
	}
	out := make([]CampaignState, len(contacts))
	if len(contacts) == 0 {
		return out, nil
	}
	vals, err := s.rdb.HMGet(ctx, s.campaignKeys(campaign)[0], s.ledgerFields(campaign, contacts)...).Result()
	if err != nil {
		return nil, fmt.Errorf("store: campaign states: %w", err)
	}
	for i, v := range vals {
		if str, ok := v.(string); ok {
			n, _ := strconv.Atoi(str)
			out[i] = CampaignState(n)
		}
	}
	return out, nil
}

func (s *redisStore) CampaignMark(ctx context.Context, campaign string, st CampaignState, contacts ...string) ([]CampaignState, error) {
	if err := checkCampaign(campaign, st); err != nil {
		return nil, err
	}
	if s.closed() {
		return nil, ErrClosed
	}
	if len(contacts) == 0 || st == CampaignNone {
		return s.CampaignStates(ctx, campaign, contacts...)
	}
	args := make([]any, 0, len(contacts)+2)
	args = append(args, int(st), int64(CampaignTTL/time.Second))
	for _, f := range s.ledgerFields(campaign, contacts) {
		args = append(args, f)
	}
	res, err := s.lua.campaign.Run(ctx, s.rdb, s.campaignKeys(campaign), args...).Int64Slice()
	if err != nil {
		return nil, fmt.Errorf("store: campaign mark: %w", err)
	}
	out := make([]CampaignState, len(contacts))
	for i := range out {
		if i < len(res) {
			out[i] = CampaignState(res[i])
		}
	}
	return out, nil
}

func (s *redisStore) CampaignCounts(ctx context.Context, campaign string) (CampaignCounts, error) {
	if err := checkCampaign(campaign, 0); err != nil {
		return CampaignCounts{}, err
	}
	if s.closed() {
		return CampaignCounts{}, ErrClosed
	}
	vals, err := s.rdb.HGetAll(ctx, s.campaignKeys(campaign)[1]).Result()
	if err != nil {
		return CampaignCounts{}, fmt.Errorf("store: campaign counts: %w", err)
	}
	var at [5]int64
	for k, v := range vals {
		st, err1 := strconv.Atoi(k)
		n, err2 := strconv.ParseInt(v, 10, 64)
		if err1 == nil && err2 == nil && st > 0 && st < len(at) {
			at[st] = n
		}
	}
	return countsOf(at), nil
}

var (
	_ Campaigns = (*memory)(nil)
	_ Campaigns = (*redisStore)(nil)
)
