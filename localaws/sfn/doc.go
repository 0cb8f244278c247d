// Package sfn is a local, durable AWS Step Functions: state machines and
// executions live in PostgreSQL (tables localaws.sfn_*, created by
// localaws.Migrate), executions are interpreted by package asl, Task states
// call registered Go handlers (Lambda), SQS (sqs:sendMessage) or park on a
// task token, and the Step Functions API subset is served over HTTP in the
// AWS JSON 1.0 protocol.
//
// # Durability and the at-least-once contract
//
// The executor persists the interpreter cursor and the history events
// after every step, in one transaction. A new Executor on the same database
// resumes every RUNNING execution from its last persisted cursor. A step
// that was in flight when the process stopped (typically a task call) is
// run again: handlers, SQS sends and token-parking calls are invoked at
// least once and must be idempotent. Every step that completed and was
// persisted is never re-run. A task token is a pure function of the
// execution and the task's position, so a resumed waitForTaskToken task
// waits on the same token and a SendTaskSuccess received while no executor
// ran is not lost.
//
// One Executor at a time may run executions of a given database.
//
// # Quotas
//
// An Executor stands for one account in one region and throttles like
// its quotas, with AWS's defaults of the largest regions: API actions by
// token buckets answering ThrottlingException (APIQuota: StartExecution),
// and the state transitions of STANDARD executions by the StateTransition
// bucket (TransitionQuota), which delays an execution instead of failing
// it and counts the delays as ExecutionThrottled.
package sfn
