-- Who holds an event's delivery lease (a random token per claimed batch). The dispatcher
-- renews its leases while deliveries are in flight, and only its own.
ALTER TABLE webhook_events ADD COLUMN lease_owner TEXT;
