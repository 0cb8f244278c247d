package sfn

import (
	"encoding/json"
	"strconv"
	"time"
)

// EpochTime is a timestamp serialised as AWS JSON 1.0 does: epoch seconds
// as a JSON number with millisecond precision.
type EpochTime struct{ time.Time }

// MarshalJSON implements json.Marshaler.
func (t EpochTime) MarshalJSON() ([]byte, error) {
	return []byte(strconv.FormatFloat(float64(t.UnixMilli())/1000, 'f', 3, 64)), nil
}

// UnmarshalJSON implements json.Unmarshaler.
func (t *EpochTime) UnmarshalJSON(b []byte) error {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return err
	}
	t.Time = time.UnixMilli(int64(f * 1000)).UTC()
	return nil
}

func epoch(t time.Time) *EpochTime { return &EpochTime{t} }

// StartExecutionInput is the StartExecution request.
type StartExecutionInput struct {
	StateMachineArn string  `json:"stateMachineArn"`
	Name            string  `json:"name,omitempty"`
	Input           *string `json:"input,omitempty"`
	TraceHeader     string  `json:"traceHeader,omitempty"`
}

// StartExecutionOutput is the StartExecution response.
type StartExecutionOutput struct {
	ExecutionArn string     `json:"executionArn"`
	StartDate    *EpochTime `json:"startDate"`
}

// Execution is DescribeExecution's response.
type Execution struct {
	ExecutionArn    string          `json:"executionArn"`
	StateMachineArn string          `json:"stateMachineArn"`
	Name            string          `json:"name"`
	Status          string          `json:"status"`
	StartDate       *EpochTime      `json:"startDate"`
	StopDate        *EpochTime      `json:"stopDate,omitempty"`
	Input           string          `json:"input"`
	InputDetails    json.RawMessage `json:"inputDetails,omitempty"`
	Output          *string         `json:"output,omitempty"`
	OutputDetails   json.RawMessage `json:"outputDetails,omitempty"`
	Error           *string         `json:"error,omitempty"`
	Cause           *string         `json:"cause,omitempty"`
	RedriveCount    int             `json:"redriveCount"`
	RedriveDate     *EpochTime      `json:"redriveDate,omitempty"`
	RedriveStatus   string          `json:"redriveStatus,omitempty"`
}

// ExecutionListItem is one element of ListExecutions.
type ExecutionListItem struct {
	ExecutionArn    string     `json:"executionArn"`
	StateMachineArn string     `json:"stateMachineArn"`
	Name            string     `json:"name"`
	Status          string     `json:"status"`
	StartDate       *EpochTime `json:"startDate"`
	StopDate        *EpochTime `json:"stopDate,omitempty"`
}

// HistoryEvent is one GetExecutionHistory event; Details is emitted under
// the field named DetailsKey (e.g. taskScheduledEventDetails).
type HistoryEvent struct {
	ID              int64
	PreviousEventID int64
	Type            string
	Timestamp       time.Time
	DetailsKey      string
	Details         json.RawMessage
}

// MarshalJSON implements json.Marshaler in the API's shape.
func (h HistoryEvent) MarshalJSON() ([]byte, error) {
	m := map[string]any{"id": h.ID, "previousEventId": h.PreviousEventID, "type": h.Type,
		"timestamp": EpochTime{h.Timestamp}}
	if h.DetailsKey != "" && len(h.Details) > 0 {
		m[h.DetailsKey] = h.Details
	}
	return json.Marshal(m)
}

// StateMachine is DescribeStateMachine's response.
type StateMachine struct {
	StateMachineArn string     `json:"stateMachineArn"`
	Name            string     `json:"name"`
	Status          string     `json:"status"`
	Definition      string     `json:"definition"`
	RoleArn         string     `json:"roleArn"`
	Type            string     `json:"type"`
	CreationDate    *EpochTime `json:"creationDate"`
}
