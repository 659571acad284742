-- The ECS endpoint is no longer a web setting (it comes from AWS_ENDPOINT_URL_ECS): a value saved
-- from a form would be ignored, so it is forgotten rather than kept and shown.
DELETE FROM settings WHERE key = 'ecs_endpoint_url';
