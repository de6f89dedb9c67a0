SELECT 1; -- placeholder
