package samtemplate

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Queue is one AWS::SQS::Queue.
type Queue struct {
	LogicalID string
	// DelaySeconds and VisibilityTimeout are the queue's, when set.
	DelaySeconds, VisibilityTimeout int
	// DeadLetter is the logical id of the queue its RedrivePolicy moves
	// messages to after MaxReceiveCount receives; empty without one.
	DeadLetter      string
	MaxReceiveCount int
}

// Rule is one AWS::Events::Rule with its SQS targets.
type Rule struct {
	LogicalID string
	// Bus is the logical id of its event bus (EventBusName: !Ref Bus);
	// empty for the default bus.
	Bus string
	// EventPattern is the rule's pattern, as JSON-ready values.
	EventPattern any
	// Queues are the logical ids of its SQS targets.
	Queues []string
}

// Queues answers the template's SQS queues.
func (t *Template) Queues() []Queue { return t.queues }

// Buses answers the logical ids of the template's EventBridge buses.
func (t *Template) Buses() []string { return t.buses }

// Rules answers the template's EventBridge rules.
func (t *Template) Rules() []Rule { return t.rules }

func (t *Template) addMessaging(id string, res resource) error {
	switch res.Type {
	case "AWS::Events::EventBus":
		t.buses = append(t.buses, id)
	case "AWS::SQS::Queue":
		var p struct {
			DelaySeconds      int       `yaml:"DelaySeconds"`
			VisibilityTimeout int       `yaml:"VisibilityTimeout"`
			RedrivePolicy     yaml.Node `yaml:"RedrivePolicy"`
		}
		if err := res.Properties.Decode(&p); err != nil {
			return fmt.Errorf("queue %s: %w", id, err)
		}
		q := Queue{LogicalID: id, DelaySeconds: p.DelaySeconds, VisibilityTimeout: p.VisibilityTimeout}
		var redrive struct {
			DeadLetterTargetArn yaml.Node `yaml:"deadLetterTargetArn"`
			MaxReceiveCount     int       `yaml:"maxReceiveCount"`
		}
		if p.RedrivePolicy.Kind != 0 {
			if err := p.RedrivePolicy.Decode(&redrive); err != nil {
				return fmt.Errorf("queue %s: %w", id, err)
			}
			q.DeadLetter, q.MaxReceiveCount = getAttTarget(&redrive.DeadLetterTargetArn), redrive.MaxReceiveCount
		}
		t.queues = append(t.queues, q)
	case "AWS::Events::Rule":
		var p struct {
			EventBusName yaml.Node `yaml:"EventBusName"`
			EventPattern yaml.Node `yaml:"EventPattern"`
			Targets      []struct {
				Arn yaml.Node `yaml:"Arn"`
			} `yaml:"Targets"`
		}
		if err := res.Properties.Decode(&p); err != nil {
			return fmt.Errorf("rule %s: %w", id, err)
		}
		r := Rule{LogicalID: id}
		if f, arg, ok := intrinsic(&p.EventBusName); ok && f == "Ref" {
			r.Bus = arg.Value
		}
		if err := p.EventPattern.Decode(&r.EventPattern); err != nil {
			return fmt.Errorf("rule %s: event pattern: %w", id, err)
		}
		for _, target := range p.Targets {
			if q := getAttTarget(&target.Arn); q != "" {
				r.Queues = append(r.Queues, q)
			}
		}
		t.rules = append(t.rules, r)
	}
	return nil
}

// getAttTarget answers X of !GetAtt X.Arn (either form), else "".
func getAttTarget(n *yaml.Node) string {
	f, arg, ok := intrinsic(n)
	switch {
	case !ok || f != "Fn::GetAtt":
		return ""
	case arg.Kind == yaml.SequenceNode && len(arg.Content) > 0:
		return arg.Content[0].Value
	default:
		id, _, _ := strings.Cut(arg.Value, ".")
		return id
	}
}
