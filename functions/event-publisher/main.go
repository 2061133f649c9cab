// Command event-publisher is the Lambda on EventsTable's stream that puts
// the outbox's new events on the city's EventBridge bus.
package main

import (
	"github.com/citycode/citycode/shared/eventpublish"
	"github.com/citycode/citycode/shared/lambdajob"
)

func main() { lambdajob.Main(eventpublish.NewJob) }
