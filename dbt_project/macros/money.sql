{#
    Money is DECIMAL(18,2) everywhere. DuckDB turns decimal division (and multiplication by a
    non-decimal) into DOUBLE, which would break the marts' contracts: every derived amount is
    rounded to cents and cast back through this macro.
#}
{% macro money(expression) -%}
    cast(round({{ expression }}, 2) as decimal(18, 2))
{%- endmacro %}

{#- A money literal or a zero of the money type. -#}
{% macro money_zero() -%}
    cast(0 as decimal(18, 2))
{%- endmacro %}

{#
    A rate or share as a fraction, DECIMAL(18,6); null when the denominator is null or zero.
#}
{% macro safe_ratio(numerator, denominator, scale=6) -%}
    case
        when {{ denominator }} is null or {{ denominator }} = 0 then null
        else cast(
            round(cast({{ numerator }} as double) / cast({{ denominator }} as double), {{ scale }})
            as decimal(18, {{ scale }})
        )
    end
{%- endmacro %}
