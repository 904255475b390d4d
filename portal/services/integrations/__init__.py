"""Event webhooks for integrations: endpoints an admin registers (endpoints), the outbox
of domain events written in the transaction of each change (outbox, payloads), and their
signed, ordered delivery (delivery). Import the module you need: the services that emit
events import only the outbox."""
