"""The page renderer: what the pens drew, as the page looks from above."""
