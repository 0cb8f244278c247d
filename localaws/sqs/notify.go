package sqs

import (
	"sync"
	"time"
)

// notifier wakes long-polling receivers of one queue when a message is sent
// to it. wait returns a channel that is closed by the next notify; take the
// channel before looking for messages so that no wake-up is lost.
type notifier struct {
	mu sync.Mutex
	ch map[string]chan struct{}
}

func newNotifier() *notifier { return &notifier{ch: map[string]chan struct{}{}} }

func (n *notifier) wait(queue string) <-chan struct{} {
	n.mu.Lock()
	defer n.mu.Unlock()
	c, ok := n.ch[queue]
	if !ok {
		c = make(chan struct{})
		n.ch[queue] = c
	}
	return c
}

func (n *notifier) notify(queue string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if c, ok := n.ch[queue]; ok {
		close(c)
		delete(n.ch, queue)
	}
}

// queueCache keeps recently loaded queues (attributes, tags, the fair
// flag) for ttl: every request loads its queue, and they change rarely.
type queueCache struct {
	ttl time.Duration
	mu  sync.Mutex
	m   map[string]cachedQueue
}

type cachedQueue struct {
	q  queue
	at time.Time
}

func newQueueCache(ttl time.Duration) *queueCache {
	return &queueCache{ttl: ttl, m: map[string]cachedQueue{}}
}

// get returns a copy of the cached queue, if fresh.
func (c *queueCache) get(name string) (*queue, bool) {
	if c.ttl < 0 {
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[name]
	if !ok || time.Since(e.at) > c.ttl {
		return nil, false
	}
	q := e.q
	return &q, true
}

func (c *queueCache) put(q *queue) {
	if c.ttl < 0 {
		return
	}
	c.mu.Lock()
	c.m[q.name] = cachedQueue{q: *q, at: time.Now()}
	c.mu.Unlock()
}

// forget drops a queue this server changed.
func (c *queueCache) forget(name string) {
	c.mu.Lock()
	delete(c.m, name)
	c.mu.Unlock()
}
