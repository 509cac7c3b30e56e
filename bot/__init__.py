"""duban (督办助手): a chat assistant that carries a district work plan from the table to done."""
