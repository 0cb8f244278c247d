package main

import (
	"fmt"
	"io"
	"sync"

	"github.com/schollz/progressbar/v3"
)

// progress reports how far a long command is: a bar on a terminal,
// otherwise a line every tenth of the total (every 100 when the total is
// unknown) and one at the end.
type progress interface {
	Set(done int)
	Finish()
}

func newProgress(w io.Writer, total int, label string) progress {
	if isTerminal(w) {
		bar := progressbar.NewOptions(total, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(label),
			progressbar.OptionShowCount(), progressbar.OptionSetPredictTime(true), progressbar.OptionClearOnFinish())
		return &barProgress{bar: bar}
	}
	step := total / 10
	if step < 1 {
		step = 1
	}
	if total <= 0 {
		step = 100
	}
	return &lineProgress{w: w, total: total, step: step, label: label, printed: -1}
}

type barProgress struct{ bar *progressbar.ProgressBar }

func (b *barProgress) Set(done int) { _ = b.bar.Set(done) }
func (b *barProgress) Finish()      { _ = b.bar.Finish() }

type lineProgress struct {
	mu          sync.Mutex
	w           io.Writer
	total, step int
	last        int
	printed     int // the count last printed, -1 before the first line
	label       string
}

func (l *lineProgress) Set(done int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if done/l.step > l.last/l.step {
		l.print(done)
	}
	l.last = done
}

// Finish prints the final count, unless the last line already said it.
func (l *lineProgress) Finish() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.printed != l.last {
		l.print(l.last)
	}
}

func (l *lineProgress) print(done int) {
	l.printed = done
	if l.total > 0 {
		fmt.Fprintf(l.w, "%s: %d/%d messages (%d%%)\n", l.label, done, l.total, done*100/l.total)
	} else {
		fmt.Fprintf(l.w, "%s: %d messages\n", l.label, done)
	}
}
