package simulator

import (
	"math"
	"strconv"
)

// Daily counters of a queue, in the order of queue.total.
const (
	counterOffered = iota
	counterAnswered
	counterQueueAbandoned
	queueCounterCount
)

// queue is an inbound queue: calls arrive with the time of day, wait, and
// are answered or abandoned.
type queue struct {
	id, name string
	peakRate float64 // calls per second at the busiest time of day
	staffing float64 // answering capacity relative to the peak rate

	waiting      int
	longest      float64 // seconds the oldest waiting call has waited
	serviceLevel float64 // percent answered within the target, smoothed

	total [queueCounterCount]uint32
}

// Queue behaviour: callers give up after patienceSeconds on average;
// serviceTargetSeconds is the answer time the service level measures, and
// the service level reflects about the last serviceLevelSeconds.
const (
	patienceSeconds      = 180.0
	serviceTargetSeconds = 20.0
	serviceLevelSeconds  = 600.0
)

// buildQueues names the queues and sets their traffic.
func (t *Tenant) buildQueues() {
	names := queueNames()
	t.queues = make([]queue, t.cfg.Queues)
	for i := range t.queues {
		q := &t.queues[i]
		q.id = strconv.Itoa(1 + i)
		q.name = names[i%len(names)] + cycleSuffix(i/len(names))
		q.peakRate = t.rng.uniform(0.01, 0.06)
		q.staffing = t.rng.uniform(0.9, 1.3)
		q.serviceLevel = t.rng.uniform(80, 95)
	}
}

// trafficShape is the share of the peak call rate at a local minute of the
// day: quiet at night, rising through the morning, falling in the evening.
func trafficShape(minuteOfDay int) float64 {
	h := float64(minuteOfDay) / 60
	if h < 7 || h > 20 {
		return 0.1
	}
	return 0.1 + 0.9*math.Sin(math.Pi*(h-7)/13)
}

// stepQueue lets calls arrive, be answered or abandon for dt seconds.
func (t *Tenant) stepQueue(q *queue, dt float64, minuteOfDay int, decay stepDecay) {
	shape := trafficShape(minuteOfDay)
	q.staffing = min(1.5, max(0.7, q.staffing+t.rng.NormFloat64()*math.Sqrt(dt)*0.004))

	arrivals := t.rng.poisson(q.peakRate * shape * dt)
	capacity := t.rng.poisson(q.peakRate * (0.3 + 1.1*shape) * q.staffing * dt)
	answered := min(q.waiting+arrivals, capacity)
	before := q.waiting + arrivals
	q.waiting = before - answered
	abandoned := t.abandonments(q.waiting, decay.callerAbandons)
	q.waiting -= abandoned

	q.total[counterOffered] += uint32(arrivals)
	q.total[counterAnswered] += uint32(answered)
	q.total[counterQueueAbandoned] += uint32(abandoned)

	// The oldest call ages while it waits; calls leaving take the older
	// ones first, so the oldest left is younger in proportion.
	switch {
	case q.waiting == 0:
		q.longest = 0
	case q.longest == 0:
		q.longest = t.rng.uniform(0, dt)
	default:
		q.longest = (q.longest + dt) * float64(q.waiting) / float64(q.waiting+answered+abandoned)
		q.longest = max(q.longest, t.rng.uniform(0, dt))
	}

	target := 100 * t.rng.uniform(0.92, 1)
	if q.longest > 0 {
		target *= math.Exp(-q.longest / (4 * serviceTargetSeconds))
	}
	q.serviceLevel += (target - q.serviceLevel) * decay.serviceLevel
}

// abandonments draws how many of n waiting callers give up, each with
// probability p.
func (t *Tenant) abandonments(n int, p float64) int {
	if n > 50 {
		return min(n, t.rng.poisson(float64(n)*p))
	}
	k := 0
	for range n {
		if t.rng.Float64() < p {
			k++
		}
	}
	return k
}

// queueNames returns the names queues are built from.
func queueNames() []string {
	return []string{
		"Billing", "Technical Support", "Sales Inbound", "Account Services",
		"Claims", "Collections Inbound", "Retentions", "Spanish Line",
		"Priority Care", "Returns",
	}
}
