-- payment.succeeded for outgoing webhooks, recorded in the transaction that stores the credit's
-- ledger entry on the payment (transaction_id set once, by whichever node or the reconciler
-- credited it), when an endpoint listens for it: a node dying after the credit loses no event.
-- The id is the one webhooks.PaymentEvent gives, so publishing it by hand as well delivers once.
CREATE FUNCTION webhook_payment_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM webhook_endpoints WHERE events @> ARRAY['payment.succeeded']) THEN
        INSERT INTO webhook_events (id, type, subject, occurred_at)
        VALUES ('payment.succeeded.' || NEW.id::text, 'payment.succeeded', NEW.id::text, COALESCE(NEW.paid_at, now()))
        ON CONFLICT (id) DO NOTHING;
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER payments_webhook_event AFTER UPDATE OF transaction_id ON payments FOR EACH ROW
    WHEN (OLD.transaction_id IS NULL AND NEW.transaction_id IS NOT NULL)
    EXECUTE FUNCTION webhook_payment_event();
