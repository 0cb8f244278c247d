package sqs

import "sync"

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
